/**
 * sizeseg's version, for what the library writes (ONNX producer_version and metadata). A constant rather
 * than a read of package.json: the library has no file access in a page. test/export/onnx.test.ts keeps
 * it equal to package.json's version.
 */
export const SIZESEG_VERSION = '0.1.0';
