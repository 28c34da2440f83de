/**
 * The UTF-8 test vectors of Autobahn|Testsuite's cases 6.5.x–6.23.x, which follow Markus Kuhn's
 * "UTF-8 decoder capability and stress test" sections: each subcategory is one section, each
 * vector one case, numbered as Autobahn numbers them (6.<5 + section index>.<1 + vector index>).
 * Written out here from the sections' definitions (the prefixes of 6.6 are judged by the platform's
 * fatal TextDecoder, as Autobahn judges them by its validator).
 */

export interface Utf8Vector {
  /** Autobahn case id, e.g. "6.12.8". */
  id: string;
  valid: boolean;
  bytes: Buffer;
}

export interface Utf8Section {
  /** Autobahn subcategory, e.g. "6.12". */
  id: string;
  title: string;
  vectors: Utf8Vector[];
}

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const fatal = new TextDecoder('utf-8', { fatal: true });
function decodes(b: Uint8Array): boolean {
  try {
    fatal.decode(b);
    return true;
  } catch {
    return false;
  }
}
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** "κόσμε" (Kuhn's first example), used whole and by prefixes. */
const KOSME = h('ceba e1bdb9 cf83 cebc ceb5');

function sections(): Array<[string, Array<[boolean, Buffer]>]> {
  const missing = ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf'].map(h);
  const nonChars: Array<[boolean, Buffer]> = [[true, h('efbfbe')], [true, h('efbfbf')]];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (z1 === 0xf4 && z2 !== 0x8f) continue; // above U+10FFFF
      for (const z3 of [0xbe, 0xbf]) {
        if (z1 === 0xf0 && z2 === 0x8f) continue; // overlong
        nonChars.push([true, Buffer.from([z1, z2, 0xbf, z3])]);
      }
    }
  }
  return [
    ['Some valid UTF-8 sequences', [[true, Buffer.from('hello\x24world')], [true, h('68656c6c6f c2a2 776f726c64')], [true, h('68656c6c6f e282ac 776f726c64')], [true, h('68656c6c6f f0a4ada2 776f726c64')], [true, KOSME]]],
    ['All prefixes of a valid UTF-8 string that contains multi-byte code points', range(1, KOSME.length + 1).map((i) => [decodes(KOSME.subarray(0, i)), KOSME.subarray(0, i)])],
    ['First possible sequence of a certain length', [[true, h('00')], [true, h('c280')], [true, h('e0a080')], [true, h('f0908080')]]],
    ['First possible sequence length 5/6 (invalid codepoints)', [[false, h('f888808080')], [false, h('fc8480808080')]]],
    ['Last possible sequence of a certain length', [[true, h('7f')], [true, h('dfbf')], [true, h('efbfbf')], [true, h('f48fbfbf')]]],
    ['Last possible sequence length 4/5/6 (invalid codepoints)', [[false, h('f7bfbfbf')], [false, h('fbbfbfbfbf')], [false, h('fdbfbfbfbfbf')]]],
    ['Other boundary conditions', [[true, h('ed9fbf')], [true, h('ee8080')], [true, h('efbfbd')], [true, h('f48fbfbf')], [false, h('f4908080')]]],
    ['Unexpected continuation bytes', [[false, h('80')], [false, h('bf')], [false, h('80bf')], [false, h('80bf80')], [false, h('80bf80bf')], [false, h('80bf80bf80')], [false, h('80bf80bf80bf')], [false, Buffer.from(range(0x80, 0xbf))]]],
    ['Lonely start characters', ([[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [0xfc, 0xfd]] as const).map(([a, b]) => [false, Buffer.from(range(a, b).flatMap((c) => [c, 0x20]))])],
    ['Sequences with last continuation byte missing', missing.map((b) => [false, b])],
    ['Concatenation of incomplete sequences', [[false, Buffer.concat(missing)]]],
    ['Impossible bytes', [[false, h('fe')], [false, h('ff')], [false, h('fefeffff')]]],
    ['Examples of an overlong ASCII character', [[false, h('c0af')], [false, h('e080af')], [false, h('f08080af')], [false, h('f8808080af')], [false, h('fc80808080af')]]],
    ['Maximum overlong sequences', [[false, h('c1bf')], [false, h('e09fbf')], [false, h('f08fbfbf')], [false, h('f887bfbfbf')], [false, h('fc83bfbfbfbf')]]],
    ['Overlong representation of the NUL character', [[false, h('c080')], [false, h('e08080')], [false, h('f0808080')], [false, h('f880808080')], [false, h('fc8080808080')]]],
    ['Single UTF-16 surrogates', ['eda080', 'edadbf', 'edae80', 'edafbf', 'edb080', 'edbe80', 'edbfbf'].map((x) => [false, h(x)])],
    ['Paired UTF-16 surrogates', ['eda080edb080', 'eda080edbfbf', 'edadbfedb080', 'edadbfedbfbf', 'edae80edb080', 'edae80edbfbf', 'edafbfedb080', 'edafbfedbfbf'].map((x) => [false, h(x)])],
    ['Non-character code points (valid UTF-8)', nonChars],
    ['Unicode specials (i.e. replacement char)', ['efbfb9', 'efbfba', 'efbfbb', 'efbfbc', 'efbfbd', 'efbfbe', 'efbfbf'].map((x) => [true, h(x)])],
  ];
}

/** Autobahn 6.5–6.23, in order. */
export const UTF8_SECTIONS: Utf8Section[] = sections().map(([title, list], i) => ({
  id: `6.${5 + i}`,
  title,
  vectors: list.map(([valid, bytes], j) => ({ id: `6.${5 + i}.${j + 1}`, valid, bytes })),
}));

/** Every vector of 6.5–6.23. */
export const UTF8_VECTORS: Utf8Vector[] = UTF8_SECTIONS.flatMap((s) => s.vectors);
