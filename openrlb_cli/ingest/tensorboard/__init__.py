"""TensorBoard event files: record framing, CRC32C, protobuf decoding, templates, batch reader."""
