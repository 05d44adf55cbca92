"""cocotb testbenches of the KV-cache codec (``rtl.kv``)."""
