"""Unit tests of the KV codec (configuration, geometry, elaboration)."""
