import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiInputError, callApi, createMiruService, type MiruService } from '../../../core/api/miruService.js';
import type { ImagePageResult } from '../../../core/api/apiTypes.js';
import { LISTING_MODELS, listingLibrary } from '../../helpers/listingLibrary.js';

/** listImages `offset` (a jump to a rank) through both hosts' path: schema, service, the query worker, keyset paging. */
let dbPath: string;
let service: MiruService;
let local: MiruService;

before(() => {
  const lib = listingLibrary(400, 21);
  lib.db.close();
  dbPath = lib.dbPath;
  service = createMiruService(dbPath);
  local = createMiruService(dbPath, { queryWorker: false });
});

after(async () => {
  await service.close();
  await local.close();
});

const list = (svc: MiruService, input: Record<string, unknown>) => callApi(svc, 'listImages', { limit: 10, ...input }) as Promise<ImagePageResult>;

async function walkIds(svc: MiruService, filters: string[], sort: string | undefined): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | null = null;
  do {
    const page = await list(svc, { filters, sort, limit: 37, after: cursor });
    ids.push(...page.items.map((i) => i.id));
    cursor = page.next;
  } while (cursor);
  return ids;
}

test('listImages with an offset returns the page walking reaches, in the worker and on the calling thread', async () => {
  const { scored } = LISTING_MODELS;
  const cases: [string[], string | undefined][] = [
    [[], undefined],
    [[], '-ratingMean'],
    [['tag=common'], 'brightness'],
    [['rater=ann', 'tag!=rare'], `-score:${scored}`],
    [[`score:${scored}>=3`], `score:${scored}`],
    [['status=any'], '-ratingCount'],
  ];
  for (const [filters, sort] of cases) {
    const all = await walkIds(service, filters, sort);
    for (const svc of [service, local]) {
      for (const offset of [0, 1, 9, Math.floor(all.length / 3), all.length - 4, all.length - 1]) {
        const page = await list(svc, { filters, sort, offset, scoreModel: scored });
        assert.deepEqual(page.items.map((i) => i.id), all.slice(offset, offset + 10), `${JSON.stringify(filters)} ${sort ?? 'id'} at ${offset}`);
        assert.equal(page.next === null, offset + 10 >= all.length, 'a next cursor exactly while rows remain');
        if (page.next) {
          // Paging on from a jump continues the same listing.
          const more = await list(svc, { filters, sort, after: page.next });
          assert.deepEqual(more.items.map((i) => i.id), all.slice(offset + 10, offset + 20));
        }
      }
      assert.deepEqual(await list(svc, { filters, sort, offset: all.length }), { items: [], next: null }, 'an offset at the end is an empty last page');
      assert.deepEqual(await list(svc, { filters, sort, offset: all.length + 1000 }), { items: [], next: null });
    }
  }
});

test('a jump sees the library as it is now: a tag added through the API moves the rows at a rank', async () => {
  assert.deepEqual(await walkIds(service, ['tag=fresh'], '-id'), []);
  // The worker now holds the (empty) set of "fresh" images; the tag call must make it read the set again.
  assert.deepEqual(await list(service, { filters: ['tag=fresh'], sort: '-id', offset: 5 }), { items: [], next: null });
  const all = await walkIds(service, [], '-id');
  const tagged = all.filter((_, i) => i % 3 === 0);
  await callApi(service, 'tagImages', { ids: tagged, add: ['fresh'] });
  const page = await list(service, { filters: ['tag=fresh'], sort: '-id', offset: 5 });
  assert.deepEqual(page.items.map((i) => i.id), tagged.slice(5, 15));
});

test('listImages refuses a bad offset, and an offset together with a cursor, naming the field', async () => {
  const first = await list(service, { filters: [] });
  await assert.rejects(list(service, { filters: [], offset: 3, after: first.next }), (e: unknown) => e instanceof ApiInputError && /listImages: invalid offset: give either after .* or offset/.test(e.message));
  await assert.rejects(list(service, { filters: [], offset: -1 }), /listImages: invalid offset/);
  await assert.rejects(list(service, { filters: [], offset: 2.5 }), /listImages: invalid offset/);
  await assert.rejects(list(service, { filters: [], offset: '7' }), /listImages: invalid offset/);
  await assert.rejects(list(service, { filters: ['rater=zed'], offset: 3 }), /invalid filters\[0\]: unknown rater "zed"/);
  // offset 0 (or null) with a cursor is just the cursor's page.
  assert.deepEqual(await list(service, { filters: [], offset: 0, after: first.next }), await list(service, { filters: [], after: first.next }));
});
