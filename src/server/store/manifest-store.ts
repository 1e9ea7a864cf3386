/**
 * Where published manifest versions live, beside the blobs they name. Versions are immutable
 * once written; one of them is "current" (what `GET /v1/manifest` serves). One interface for
 * every backend; the "ManifestStore contract" suite in `test/unit/store-blob.test.ts` is what
 * each must pass.
 */
export interface ManifestStore {
  readonly url: string;
  /**
   * The bytes served now, or undefined when nothing is published yet. Called on every manifest
   * request, so backends cache: the same bytes come back as the same Uint8Array object until
   * the current manifest changes (which is how the server knows to rebuild its ETag).
   */
  current(): Promise<Uint8Array | undefined>;
  /** Writes version `version`; `conflict`-style `bad-input` if it exists. Durable when it resolves. */
  putVersion(version: number, bytes: Uint8Array): Promise<void>;
  getVersion(version: number): Promise<Uint8Array | undefined>;
  /** Stored version numbers, ascending. */
  listVersions(): Promise<number[]>;
  deleteVersion(version: number): Promise<void>;
  /** Makes a stored version the current one (atomically: readers see the old or the new). */
  setCurrent(version: number): Promise<void>;
  close(): Promise<void>;
}
