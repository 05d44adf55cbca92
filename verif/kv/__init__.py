"""cocotb testbenches of the KV-cache codec (``hybridgen.rtl.kv``)."""
