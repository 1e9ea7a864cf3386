/**
 * catalog(): every item of a model version with its metadata, read through the verified loader
 * (each shard's sha256 checked; from the cache when the model load already stored it).
 */
import { LocalrecError } from '../../core/errors.ts';
import { catalogItems, decodeMetadataShard } from '../../core/metadata.ts';
import { decodeShard } from '../../core/shard.ts';
import type { CatalogListing } from '../api.ts';
import type { Loader } from '../loader/loader.ts';
import type { LoadPlan } from '../loader/plan.ts';

/**
 * The items of `plan`'s version in index order. An export without metadata shards lists the ids
 * of its SASRec embedding shards, each titled by its id.
 * @throws LocalrecError `integrity` / `bad-format` as the loader and the shard decoders.
 */
export async function listCatalog(loader: Loader, plan: LoadPlan): Promise<CatalogListing> {
  const { modelVersion } = plan;
  if (plan.metadata.length > 0) {
    const shards = await Promise.all(
      plan.metadata.map(async (ref, i) =>
        decodeMetadataShard(await loader.blob(ref, `metadata shard ${i + 1}`)),
      ),
    );
    return { modelVersion, items: catalogItems(shards) };
  }
  const ids: string[] = [];
  for (const [i, ref] of plan.sasrec.shards.entries())
    ids.push(...decodeShard(await loader.blob(ref, `embedding shard ${i + 1}`)).ids);
  if (ids.length === 0) throw new LocalrecError('bad-format', 'the model lists no items');
  const items = ids.map((id) => ({ id, title: id, categories: [] }));
  return { modelVersion, items: catalogItems([{ baseIndex: 0, items }]) };
}
