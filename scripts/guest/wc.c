/*
 * A word count shaped like Metis's app/wc (map, reduce, merge), for the qemu engine's many-guest
 * scenario (§5.2). Written for this project; no Metis code is copied.
 *   wc gen SEED MIB KEYS   writes MIB MiB of text drawn uniformly from KEYS distinct words (the
 *                          paper's input: 300 MB with 1M keys), deterministic per SEED
 *   wc count FILE          prints "word count" lines, most frequent first (ties by word), then a
 *                          summary line on stderr
 * Memory as Metis's: the map phase interns every distinct word once (a hash index) and appends a
 * 16-byte (key, value) pair per word occurrence to the array of the key's hash bucket, so the
 * intermediate tables grow with the input mapped (about 16 bytes per word); reduce walks the
 * buckets, summing each key's pairs into a result array (16 bytes per key); merge sorts the
 * results by count. One worker: the guest has one vCPU.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser */
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* Key k's word: 4 to 9 lowercase letters, a function of k alone (distinct keys, distinct words). */
static int word_of(uint64_t k, char *out) {
  uint64_t h = mix(k);
  int len = 4 + (int)(h % 6);
  /* The first four letters spell k in base 26, so that no two keys share a word. */
  uint64_t v = k;
  int i = 0;
  for (; i < len; i++) {
    if (i < 4) {
      out[i] = (char)('a' + v % 26);
      v /= 26;
    } else {
      h = mix(h);
      out[i] = (char)('a' + h % 26);
    }
  }
  out[i] = 0;
  return len;
}

static int gen(uint64_t seed, uint64_t mib, uint64_t keys) {
  uint64_t total = mib << 20, written = 0, s = mix(seed);
  static char line[256];
  while (written < total) {
    int n = 0;
    while (n < 72) {
      s = mix(s);
      n += word_of(s % keys, line + n);
      line[n++] = ' ';
    }
    line[n - 1] = '\n';
    if (written + (uint64_t)n > total) n = (int)(total - written);
    if (fwrite(line, 1, (size_t)n, stdout) != (size_t)n) return 1;
    written += (uint64_t)n;
  }
  return fflush(stdout) != 0;
}

struct pair { const char *key; uint64_t value; };
struct bucket { struct pair *p; size_t n, cap; };
struct result { const char *key; uint64_t count; };

#define NBUCKETS 4096
static struct bucket buckets[NBUCKETS];
static const char **index_keys; /* open addressing: interned key pointers */
static uint64_t *index_hash;
static size_t index_cap, nkeys;

static uint64_t hash_word(const char *w, size_t len) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)w[i]) * 1099511628211ULL;
  return h;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) { fprintf(stderr, "wc: out of memory (%zu bytes)\n", n); exit(3); }
  return p;
}

static void index_grow(void) {
  size_t cap = index_cap ? index_cap * 2 : 1 << 16;
  const char **k = calloc(cap, sizeof *k);
  uint64_t *h = calloc(cap, sizeof *h);
  if (!k || !h) { fprintf(stderr, "wc: out of memory (index)\n"); exit(3); }
  for (size_t i = 0; i < index_cap; i++)
    if (index_keys[i]) {
      size_t j = index_hash[i] & (cap - 1);
      while (k[j]) j = (j + 1) & (cap - 1);
      k[j] = index_keys[i];
      h[j] = index_hash[i];
    }
  free(index_keys);
  free(index_hash);
  index_keys = k;
  index_hash = h;
  index_cap = cap;
}

/* The interned copy of the word (the map phase's hash index lookup). */
static const char *intern(const char *w, size_t len, uint64_t h) {
  if (2 * (nkeys + 1) > index_cap) index_grow();
  size_t j = h & (index_cap - 1);
  while (index_keys[j]) {
    if (index_hash[j] == h && strncmp(index_keys[j], w, len) == 0 && index_keys[j][len] == 0)
      return index_keys[j];
    j = (j + 1) & (index_cap - 1);
  }
  /* The key's number sits before its text: reduce sums a key's pairs in an array by number. */
  char *k = (char *)xmalloc(sizeof(uint32_t) + len + 1) + sizeof(uint32_t);
  uint32_t id = (uint32_t)nkeys;
  memcpy(k - sizeof id, &id, sizeof id);
  memcpy(k, w, len);
  k[len] = 0;
  index_keys[j] = k;
  index_hash[j] = h;
  nkeys++;
  return k;
}

static void emit(const char *w, size_t len) {
  uint64_t h = hash_word(w, len);
  const char *key = intern(w, len, h);
  struct bucket *b = &buckets[(h >> 40) % NBUCKETS];
  if (b->n == b->cap) {
    b->cap = b->cap ? b->cap * 2 : 256;
    b->p = realloc(b->p, b->cap * sizeof *b->p);
    if (!b->p) { fprintf(stderr, "wc: out of memory (tables)\n"); exit(3); }
  }
  b->p[b->n].key = key;
  b->p[b->n].value = 1;
  b->n++;
}

static int by_count(const void *a, const void *b) {
  const struct result *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return strcmp(x->key, y->key);
}

static int count(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); return 2; }
  static char buf[1 << 17]; /* the guest's readahead window, 128 KiB */
  char word[64];
  size_t wl = 0, n;
  uint64_t words = 0;
  /* Map. */
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    for (size_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c >= 'a' && c <= 'z') {
        if (wl < sizeof word) word[wl++] = c;
      } else if (wl) {
        emit(word, wl);
        words++;
        wl = 0;
      }
    }
  if (wl) { emit(word, wl); words++; }
  fclose(f);
  /* Reduce: bucket by bucket, each key's pairs summed into its one result (keys in the order the
     bucket first saw them). */
  struct result *res = xmalloc((nkeys ? nkeys : 1) * sizeof *res);
  int64_t *slot = xmalloc((nkeys ? nkeys : 1) * sizeof *slot);
  memset(slot, 0xff, (nkeys ? nkeys : 1) * sizeof *slot);
  size_t nres = 0;
  for (int b = 0; b < NBUCKETS; b++) {
    struct bucket *k = &buckets[b];
    for (size_t i = 0; i < k->n; i++) {
      uint32_t id;
      memcpy(&id, k->p[i].key - sizeof id, sizeof id);
      if (slot[id] < 0) {
        slot[id] = (int64_t)nres;
        res[nres].key = k->p[i].key;
        res[nres].count = 0;
        nres++;
      }
      res[slot[id]].count += k->p[i].value;
    }
    free(k->p);
    k->p = NULL;
  }
  free(slot);
  /* Merge: by count, most frequent first. */
  qsort(res, nres, sizeof *res, by_count);
  for (size_t i = 0; i < nres; i++) printf("%s %llu\n", res[i].key, (unsigned long long)res[i].count);
  fprintf(stderr, "wc: %llu words, %zu keys\n", (unsigned long long)words, nres);
  return fflush(stdout) != 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "gen") == 0) {
    uint64_t keys = strtoull(argv[4], NULL, 10), mib = strtoull(argv[3], NULL, 10);
    if (keys < 1 || keys > 456976ULL /* 26^4: the shortest word spells its key */ || mib < 1) {
      fprintf(stderr, "wc gen: KEYS must be 1..456976 and MIB >= 1\n");
      return 2;
    }
    return gen(strtoull(argv[2], NULL, 10), mib, keys);
  }
  if (argc == 3 && strcmp(argv[1], "count") == 0) return count(argv[2]);
  fprintf(stderr, "usage: wc gen SEED MIB KEYS | wc count FILE\n");
  return 2;
}
