{
  "targets": [
    {
      "target_name": "collapse_native",
      "sources": [
        "<!@(node -p \"require('./sources.json').engine.join(' ')\")",
        "<!@(node -p \"require('./sources.json').addon.join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "<!@(node -p \"require('./sources.json').cflags.join(' ')\")"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["<!@(node -p \"require('./sources.json').cflags.join(' ')\")"]
      }
    }
  ]
}
