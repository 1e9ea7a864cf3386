import type { Dataset, ItemInfo } from '../types.ts';
import { fail, forEachLine, requireId } from './fields.ts';
import { parseRatings } from './movielens-ratings.ts';

/** File names used in error messages of {@link parseMovieLens1m}. */
export interface MovieLens1mNames {
  ratings?: string;
  movies?: string;
}

/**
 * MovieLens 1M: `ratings.dat` (`user::item::rating::timestamp`) and optionally
 * `movies.dat` (`id::title::Genre1|Genre2`, latin-1).
 */
export function parseMovieLens1m(
  ratingsDat: string,
  moviesDat: string | null,
  names: MovieLens1mNames = {},
): Dataset {
  const ratingsName = names.ratings ?? 'ratings.dat';
  const moviesName = names.movies ?? 'movies.dat';
  const events = parseRatings(ratingsDat, '::', "'::'", ratingsName);

  const items: ItemInfo[] = [];
  if (moviesDat !== null) {
    forEachLine(moviesDat, (line, no) => {
      const f = line.split('::');
      if (f.length < 3) {
        fail(moviesName, no, `expected 3 '::'-separated fields (id title genres), got ${f.length}`);
      }
      const id = requireId(f[0]!, 'movie id', moviesName, no);
      // A title containing '::' would split further; the id is first and genres last.
      const title = f.slice(1, -1).join('::').trim();
      const genres = f[f.length - 1]!.trim();
      const categories =
        genres === '' || genres === '(no genres listed)'
          ? []
          : genres
              .split('|')
              .map((g) => g.trim())
              .filter((g) => g !== '');
      items.push({ id, title, categories });
    });
  }
  return { name: 'ml-1m', events, items };
}
