{
  "targets": [
    {
      "target_name": "flowlog_capture",
      "sources": ["src/capture/native/chunk-capture.c", "src/capture/native/packet-ring.c", "src/capture/native/link-events.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "link_settings": { "libraries": ["-lpcap"] }
    },
    {
      "target_name": "flowlog_ebpf",
      "sources": [
        "src/capture/native/ebpf-engine.c",
        "src/capture/native/ebpf-maps.c",
        "src/capture/native/ebpf-attach.c",
        "src/capture/native/ebpf-hooks.c",
        "src/capture/native/ebpf-drain.c",
        "src/capture/native/ebpf-measure.c",
        "src/capture/native/ebpf-probe.c"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "link_settings": { "libraries": ["-lbpf"] },
      "dependencies": ["flow_tc_bpf"]
    },
    {
      "target_name": "flow_tc_bpf",
      "type": "none",
      "actions": [
        {
          "action_name": "compile_flow_tc",
          "inputs": ["tools/build-bpf.js", "src/capture/ebpf/flow-tc.bpf.c", "src/capture/ebpf/flow-tc.h"],
          "outputs": ["<(PRODUCT_DIR)/flow-tc.bpf.o"],
          "action": ["node", "tools/build-bpf.js", "<@(_outputs)"]
        }
      ]
    }
  ]
}
