"""The torch-free ONNX backend: `runtime` runs a cached export, `export` makes one (torch), `cache` keeps them."""
