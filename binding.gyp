{
  "targets": [
    {
      "target_name": "flowlog_capture",
      "sources": ["src/capture/native/chunk-capture.c", "src/capture/native/packet-ring.c", "src/capture/native/link-events.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "link_settings": { "libraries": ["-lpcap"] }
    }
  ]
}
