/** The SFU packet layer: see docs/sfu.md, "Packet layer". Pure codecs and generators, no I/O. */
export { RtpDecodeError, RtpErrorCode, type RtpErrorName } from './errors.ts';
export { SeqUnwrapper, seqDiff, seqNewer } from './seq.ts';
export {
  DEFAULT_MAX_RTP,
  EXT_ONE_BYTE,
  EXT_TWO_BYTE,
  ExtForm,
  ExtUri,
  ExtensionBlock,
  RtpView,
  absSendTimeToUs,
  buildRtp,
  parseRtp,
  readAbsSendTime,
  readAudioLevel,
  readSdesId,
  readTransportSeq,
  readVoiceActivity,
  rewriteCopy,
  rewriteInto,
  rewriteWithExtensions,
  sdesIdEquals,
  setMarker,
  setPayloadType,
  setSequenceNumber,
  setSsrc,
  setTimestamp,
  unwrapRtx,
  writeAbsSendTime,
  writeTransportSeq,
  wrapRtx,
  type RtpInit,
  type RtpParseOptions,
} from './rtp-packet.ts';
export * from './rtcp.ts';
export { TwccGenerator, type TwccGeneratorOptions } from './twcc-generator.ts';
export { NackGenerator, type NackGeneratorOptions } from './nack-generator.ts';
export { Vp8Descriptor, Vp8Munger, isVp8Keyframe, parseVp8Descriptor, writePictureId } from './vp8.ts';
export { H264Info, NalType, h264PacketInfo, isH264Keyframe, packetizationModeOf } from './h264.ts';
