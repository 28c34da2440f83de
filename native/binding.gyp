{
  # The SFU's optional native helper (src/webrtc/sfu/srtp/native.ts): SRTP/SRTCP protect with
  # per-session OpenSSL contexts and a sendmmsg batch send. Built against Node's own headers
  # (which carry OpenSSL's); links nothing: Node exports the OpenSSL symbols on Linux.
  # Built by `npm run build:native` (scripts/build-native.mjs, run from `prepare`).
  "targets": [
    {
      "target_name": "sfu_native",
      "sources": ["sfu_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-deprecated-declarations", "-Wno-unused-parameter"],
      "defines": []
    }
  ]
}
