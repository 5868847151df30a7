package dpdkengine

// LibVersion names the I/O libraries the engine is built on.
const LibVersion = "DPDK 22.11 + gVisor netstack 20260905035102"
