import type { Dataset, ItemInfo } from '../types.ts';
import { fail, forEachLine, requireId } from './fields.ts';
import { parseRatings } from './movielens-ratings.ts';

/** The 19 genre flags of MovieLens 100K `u.item`, in file order (as in `u.genre`). */
export const ML100K_GENRES: readonly string[] = [
  'unknown',
  'Action',
  'Adventure',
  'Animation',
  "Children's",
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
];

/** File names used in error messages of {@link parseMovieLens100k}. */
export interface MovieLens100kNames {
  data?: string;
  item?: string;
}

/**
 * MovieLens 100K: `u.data` (`user\titem\trating\ttimestamp`) and optionally `u.item`
 * (`id|title|release date|video release date|IMDb URL|19 genre flags`). Every rating is
 * an interaction; the rating value itself is dropped (implicit feedback).
 */
export function parseMovieLens100k(
  uData: string,
  uItem: string | null,
  names: MovieLens100kNames = {},
): Dataset {
  const dataName = names.data ?? 'u.data';
  const itemName = names.item ?? 'u.item';
  const events = parseRatings(uData, '\t', 'tab', dataName);

  const items: ItemInfo[] = [];
  if (uItem !== null) {
    const width = 5 + ML100K_GENRES.length;
    forEachLine(uItem, (line, no) => {
      const f = line.split('|');
      if (f.length !== width) {
        fail(
          itemName,
          no,
          `expected ${width} '|'-separated fields (id title release-date video-release-date url 19 genre flags), got ${f.length}`,
        );
      }
      const id = requireId(f[0]!, 'item id', itemName, no);
      const categories: string[] = [];
      for (let g = 0; g < ML100K_GENRES.length; g++) {
        const flag = f[5 + g]!.trim();
        if (flag === '1') categories.push(ML100K_GENRES[g]!);
        else if (flag !== '0') {
          fail(
            itemName,
            no,
            `genre flag ${g + 1} (${ML100K_GENRES[g]}) must be 0 or 1, got "${flag}"`,
          );
        }
      }
      const item: ItemInfo = { id, title: f[1]!.trim(), categories };
      const url = f[4]!.trim();
      if (url !== '') item.url = url;
      items.push(item);
    });
  }
  return { name: 'ml-100k', events, items };
}
