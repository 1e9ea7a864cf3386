/**
 * The model versions behind a recommender: the first load (progressive: recommendations from
 * the first embedding and metadata shards, before ONNX Runtime has even compiled — the SASRec
 * encoder joins when its session is ready, the other shards as they arrive) and switching to a newer
 * version when the manifest moves (downloaded and verified completely beside the serving one,
 * loaded under new names, swapped in with one assignment, the old one released only after the
 * calls that started with it have finished).
 */
import type { BlobRef } from '../../core/blob.ts';
import { LocalrecError } from '../../core/errors.ts';
import { decodeMetadataShard } from '../../core/metadata.ts';
import type { DeviceChoice } from '../ranker/device.ts';
import type { Loader, LoadedManifest } from '../loader/loader.ts';
import type { LoadPlan, ModelPlan } from '../loader/plan.ts';
import type { LoadPhase, LoadProgress, RecommenderWarning, RefreshResult } from '../api.ts';
import { ItemCatalog } from './catalog.ts';
import type { KernelChoice, Ranker } from '../ranker/api.ts';

/** Downloads running at once while the rest of a version loads in the background. */
const PARALLEL_DOWNLOADS = 4;
/**
 * The background load waits for the first answer to be served, or this long: on two cores,
 * verifying and decoding the rest would otherwise delay the first recommendation.
 */
const BACKGROUND_AFTER_MS = 300;

/** One loaded model version. */
export interface ActiveModel {
  plan: LoadPlan;
  source: 'network' | 'cache';
  /** The ranker's names for this version's models (unique per version, so two can coexist). */
  sasrec: string;
  /** Whether the SASRec encoder is attached (until then the funnel has no `sasrec` source). */
  encoder: boolean;
  /** Set once the two-tower model (if the manifest has one) has loaded its first shard. */
  twoTower: string | null;
  catalog: ItemCatalog;
  /** SASRec items searchable now. */
  items: number;
  complete: boolean;
  /** Where the encoders run; `'loading'` until the SASRec encoder is attached. */
  device: string;
  kernel: string;
}

/** What {@link ModelManager} needs. */
export interface ModelManagerOptions {
  ranker: Ranker;
  loader: Loader;
  device: DeviceChoice;
  kernel?: KernelChoice;
  onProgress: (p: LoadProgress) => void;
  onWarning: (w: RecommenderWarning) => void;
  /** A newer version took over (`previous` has been released). */
  onSwitch: (active: ActiveModel, previous: ActiveModel) => void;
  /** Deletes cached blobs no longer needed (not in `keep`). */
  retain: (keep: ReadonlySet<string>) => Promise<void>;
}

const mb = (n: number) => (n / 1e6).toFixed(1);
const shas = (refs: readonly BlobRef[]) => new Set(refs.map((r) => r.sha256));

/** Byte and item counts of one version's load, reported through `onProgress`. */
class Progress {
  loaded = 0;
  cached = 0;
  items = 0;
  constructor(
    private readonly plan: LoadPlan,
    private readonly emit: (p: LoadProgress) => void,
  ) {}

  bytes = (n: number, fromCache: boolean, phase: LoadPhase): void => {
    this.loaded += n;
    if (fromCache) this.cached += n;
    this.report(phase);
  };

  report(phase: LoadPhase): void {
    const total = this.plan.blobs.reduce((a, b) => a + b.bytes, 0);
    const text =
      phase === 'manifest'
        ? 'checking the model manifest'
        : phase === 'ready'
          ? `ready: ${this.items} of ${this.plan.totalItems} items, loading the rest`
          : phase === 'complete'
            ? `model ${this.plan.modelVersion} ready (${this.items} items)`
            : `${phase === 'update' ? 'downloading a model update' : 'loading the model'} ${mb(this.loaded)}/${mb(total)} MB`;
    this.emit({
      phase,
      modelVersion: this.plan.modelVersion,
      loadedBytes: this.loaded,
      totalBytes: total,
      cachedBytes: this.cached,
      items: this.items,
      totalItems: this.plan.totalItems,
      progress: total > 0 ? Math.min(1, this.loaded / total) : 1,
      text,
    });
  }
}

async function eachLimited<T>(items: readonly T[], limit: number, f: (x: T) => Promise<void>) {
  let next = 0;
  const run = async () => {
    while (next < items.length) await f(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

export class ModelManager {
  active: ActiveModel | undefined;
  private completion: Promise<void> = Promise.resolve();
  private refreshing: Promise<RefreshResult> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private versions = 0;
  private closed = false;
  private markServed: () => void = () => {};
  /** Resolves once a first call has been answered. */
  private readonly served = new Promise<void>((resolve) => (this.markServed = resolve));

  constructor(private readonly o: ModelManagerOptions) {}

  private names(): { sasrec: string; twoTower: string } {
    const n = ++this.versions;
    return { sasrec: `sasrec#${n}`, twoTower: `two-tower#${n}` };
  }

  /**
   * Loads the current version far enough to recommend — the first embedding shard (searchable
   * at once) and the first metadata shard — and the rest in the background: the SASRec encoder
   * (its ONNX session takes the longest, mostly compiling ONNX Runtime's WebAssembly), the other
   * shards, the two-tower model ({@link whenComplete}).
   */
  async start(): Promise<ActiveModel> {
    this.o.onProgress({
      phase: 'manifest',
      modelVersion: null,
      loadedBytes: 0,
      totalBytes: 0,
      cachedBytes: 0,
      items: 0,
      totalItems: 0,
      progress: 0,
      text: 'checking the model manifest',
    });
    // Warm start: read the first blobs the cached manifest names while the server is asked
    // whether it changed (usually 304); they are used only if it did not.
    const cached = await this.o.loader.cachedManifest();
    const early = cached ? this.firstBlobs(cached.plan) : undefined;
    const lm = await this.o.loader.manifest();
    const { plan } = lm;
    const same = early && cached?.plan.identity === plan.identity;
    if (early && !same) early.both.catch(() => undefined);
    const { progress, protect, get, both } = same ? early : this.firstBlobs(plan);
    const names = this.names();
    const [first, meta] = await both;
    const loaded = await this.o.ranker.loadItems({
      model: names.sasrec,
      shards: [first],
      kernel: this.o.kernel,
    });
    const catalog = new ItemCatalog();
    if (meta) catalog.addMetadata(decodeMetadataShard(meta));
    const active: ActiveModel = {
      plan,
      source: lm.source,
      sasrec: names.sasrec,
      encoder: false,
      twoTower: null,
      catalog,
      items: loaded.items,
      complete: false,
      device: 'loading',
      kernel: loaded.kernel,
    };
    this.active = active;
    progress.items = loaded.items;
    progress.report('ready');
    this.completion = (async () => {
      await Promise.race([this.served, new Promise((r) => setTimeout(r, BACKGROUND_AFTER_MS))]);
      const encoder = await get(plan.sasrec.encoder, 'SASRec encoder');
      const attached = await this.o.ranker.attachEncoder({
        model: names.sasrec,
        encoder,
        maxLen: plan.sasrec.maxLen,
        device: this.o.device,
      });
      active.encoder = true;
      active.device = attached.device;
      // Cached once what a start needs first is verified, so an offline start can use it.
      if (lm.source === 'network') await this.o.loader.commit(lm);
      await this.loadRest(active, names.twoTower, progress, protect);
    })();
    // Reported here; whenComplete() also hands the error to whoever waits for it.
    this.completion.catch((e: unknown) => {
      if (!this.closed)
        this.o.onWarning({
          code: 'integrity',
          message: `part of the model could not be loaded: ${e instanceof Error ? e.message : String(e)}; recommendations use what did load`,
        });
    });
    return active;
  }

  /** Starts reading a version's first embedding and metadata shards. */
  private firstBlobs(plan: LoadPlan) {
    const progress = new Progress(plan, this.o.onProgress);
    progress.report('download');
    const protect = shas(plan.blobs);
    const get = (ref: BlobRef, kind: string) =>
      this.o.loader.blob(ref, kind, (n, c) => progress.bytes(n, c, 'download'), protect);
    const both = Promise.all([
      get(plan.sasrec.shards[0]!, 'embedding shard 1'),
      plan.metadata[0] ? get(plan.metadata[0], 'metadata shard 1') : undefined,
    ]);
    return { progress, protect, get, both };
  }

  /** The rest of a version: SASRec shards, metadata, then the two-tower model. */
  private async loadRest(
    m: ActiveModel,
    twoTowerName: string,
    progress: Progress,
    protect: ReadonlySet<string>,
  ): Promise<void> {
    const { plan } = m;
    const get = (ref: BlobRef, kind: string) =>
      this.o.loader.blob(ref, kind, (n, c) => progress.bytes(n, c, 'download'), protect);
    const tasks: (() => Promise<void>)[] = [
      ...plan.sasrec.shards.slice(1).map((ref, i) => async () => {
        const bytes = await get(ref, `embedding shard ${i + 2}`);
        if (this.closed) return;
        const r = await this.o.ranker.addShards({ model: m.sasrec, shards: [bytes] });
        m.items = progress.items = r.items;
      }),
      ...plan.metadata.slice(1).map((ref, i) => async () => {
        const bytes = await get(ref, `metadata shard ${i + 2}`);
        m.catalog.addMetadata(decodeMetadataShard(bytes));
      }),
    ];
    await eachLimited(tasks, PARALLEL_DOWNLOADS, (t) => t());
    if (plan.twoTower && !this.closed) {
      await this.loadModel(plan.twoTower, twoTowerName, get, true);
      m.twoTower = twoTowerName;
    }
    m.complete = true;
    progress.report('complete');
  }

  /** Loads one model: encoder + first shard, then (if `progressive`) the others one by one. */
  private async loadModel(
    p: ModelPlan,
    name: string,
    get: (ref: BlobRef, kind: string) => Promise<Uint8Array>,
    progressive: boolean,
  ): Promise<void> {
    const label = p.name === 'sasrec' ? 'SASRec' : 'two-tower';
    const [encoder, ...shards] = await Promise.all([
      get(p.encoder, `${label} encoder`),
      ...(progressive ? p.shards.slice(0, 1) : p.shards).map((s, i) =>
        get(s, `${label} shard ${i + 1}`),
      ),
    ]);
    await this.o.ranker.load({
      model: name,
      encoder: encoder!,
      shards,
      maxLen: p.maxLen,
      context: p.context,
      device: this.o.device,
      kernel: this.o.kernel,
    });
    if (!progressive) return;
    for (const [i, ref] of p.shards.slice(1).entries()) {
      const bytes = await get(ref, `${label} shard ${i + 2}`);
      await this.o.ranker.addShards({ model: name, shards: [bytes] });
    }
  }

  /** Resolves when every shard of the current version is loaded; rejects with what failed. */
  whenComplete(): Promise<void> {
    return this.completion;
  }

  /** Runs `f` on the active version, which is not released while `f` runs. */
  use<T>(f: (m: ActiveModel) => Promise<T>): Promise<T> {
    const m = this.active;
    if (!m) throw new LocalrecError('not-loaded', 'the recommender is closed');
    const p = f(m);
    this.inFlight.add(p);
    void p.then(
      () => {
        this.inFlight.delete(p);
        this.markServed();
      },
      () => this.inFlight.delete(p),
    );
    return p;
  }

  /**
   * Checks the manifest; a new version is downloaded and verified completely, loaded under new
   * names and swapped in. On any failure the current version keeps serving and the error is thrown.
   */
  refresh(): Promise<RefreshResult> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<RefreshResult> {
    await this.completion.catch(() => undefined);
    const cur = this.active;
    if (!cur || this.closed) throw new LocalrecError('not-loaded', 'the recommender is closed');
    const lm: LoadedManifest = await this.o.loader.manifest();
    const { plan } = lm;
    if (plan.identity === cur.plan.identity) {
      cur.source = lm.source;
      return { changed: false, modelVersion: cur.plan.modelVersion };
    }
    const progress = new Progress(plan, this.o.onProgress);
    progress.report('update');
    const protect = new Set([...shas(cur.plan.blobs), ...shas(plan.blobs)]);
    const bytes = new Map<string, Uint8Array>();
    await eachLimited(plan.blobs, PARALLEL_DOWNLOADS, async (ref) => {
      const b = await this.o.loader.blob(
        ref,
        'blob',
        (n, c) => progress.bytes(n, c, 'update'),
        protect,
      );
      bytes.set(ref.sha256, b);
    });
    const got = async (ref: BlobRef) => bytes.get(ref.sha256)!;
    const names = this.names();
    const catalog = new ItemCatalog();
    let loaded;
    try {
      loaded = await this.o.ranker.load({
        model: names.sasrec,
        encoder: await got(plan.sasrec.encoder),
        shards: await Promise.all(plan.sasrec.shards.map(got)),
        maxLen: plan.sasrec.maxLen,
        device: this.o.device,
        kernel: this.o.kernel,
      });
      for (const ref of plan.metadata) catalog.addMetadata(decodeMetadataShard(await got(ref)));
      if (plan.twoTower) await this.loadModel(plan.twoTower, names.twoTower, got, false);
    } catch (e) {
      await this.o.ranker.unload(names.sasrec);
      await this.o.ranker.unload(names.twoTower);
      throw e;
    }
    const next: ActiveModel = {
      plan,
      source: lm.source,
      sasrec: names.sasrec,
      encoder: true,
      twoTower: plan.twoTower ? names.twoTower : null,
      catalog,
      items: loaded.items,
      complete: true,
      device: loaded.device,
      kernel: loaded.kernel,
    };
    this.active = next; // the swap: calls from here on use the new version
    await this.o.loader.commit(lm);
    await Promise.allSettled([...this.inFlight]);
    await this.o.ranker.unload(cur.sasrec);
    if (cur.twoTower) await this.o.ranker.unload(cur.twoTower);
    await this.o.retain(shas(plan.blobs));
    progress.items = next.items;
    progress.report('complete');
    this.o.onSwitch(next, cur);
    return { changed: true, modelVersion: plan.modelVersion };
  }

  /** Stops background loading and releases every model. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    this.active = undefined;
    await this.o.ranker.dispose();
  }
}
