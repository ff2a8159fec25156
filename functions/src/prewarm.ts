/**
 * Imported first by index.ts: starts loading the inference side (ONNX Runtime's native
 * binding, h5wasm's WebAssembly, sharp) before the Google Cloud client libraries are
 * evaluated, so that WebAssembly compilation (on V8's background threads) and native
 * loading overlap the ~600 ms those libraries take, instead of following them on the
 * first message. Failures are ignored here: the loader reports them where they matter.
 */
void import('onnxruntime-node').catch(() => {});
void import('h5wasm').then(h5 => h5.ready).catch(() => {});
void import('sharp').catch(() => {});

export {};
