/* fsd-mkdemo's cache/ tree: the audio and image caches Open WebUI fills
 * and never expires (old and new entries, for age-based rules), and the
 * model weights and plugin directories that no rule may ever reap. No
 * cache file is an audit finding: caches are matched against no rows. */
#include "common/util.h"
#include "tests/gen/gen.h"

static int write_named(struct gen *g, const char *dir, const char *base, const char *ext,
		       const char *head, size_t size, int64_t age)
{
	char path[512];
	int len = snprintf(path, sizeof(path), "cache/%s/%s%s", dir, base, ext);

	return gen_write_file(g, path, len, head, size, age);
}

/* TTS: sha256-named .mp3 with a .json of the request beside it. */
static int gen_speech(struct gen *g)
{
	static const int64_t ages[] = {45 * DAY, 31 * DAY, 3 * DAY, 2 * HOUR};
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(ages); i++) {
		char h[65];
		rng_hex(&g->rng, h, 64);
		r = write_named(g, "audio/speech", h, ".mp3", "ID3\x04", 24000, ages[i]);
		if (r >= 0)
			r = write_named(g, "audio/speech", h, ".json",
					"{\"model\": \"tts-1\", \"voice\": \"alloy\", \"input\": \"", 120,
					ages[i]);
	}
	return r;
}

/* STT: the uploaded recording {uuid}.{ext} and its transcript .json. */
static int gen_transcriptions(struct gen *g)
{
	static const int64_t ages[] = {60 * DAY, 40 * DAY, 1 * DAY};
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(ages); i++) {
		char u[GEN_UUID_LEN + 1];
		rng_uuid(&g->rng, u);
		r = write_named(g, "audio/transcriptions", u, ".webm", "\x1a\x45\xdf\xa3", 48000,
				ages[i]);
		if (r >= 0)
			r = write_named(g, "audio/transcriptions", u, ".json", "{\"text\": \"",
					200, ages[i]);
	}
	return r;
}

static int gen_images(struct gen *g)
{
	static const int64_t ages[] = {90 * DAY, 35 * DAY, 2 * DAY};
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(ages); i++) {
		char u[GEN_UUID_LEN + 1];
		rng_uuid(&g->rng, u);
		r = write_named(g, "image/generations", u, ".png", "\x89PNG\r\n\x1a\n", 30000,
				ages[i]);
	}
	return r;
}

/* Model weights: old, large-ish, and never reapable whatever their age. */
static int gen_models(struct gen *g)
{
	static const struct {
		const char *path, *head;
		size_t size;
		int64_t age;
	} files[] = {
		{"cache/embedding/models/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/"
		 "c9745ed1d9f207416be6d2e6f8de32d1f16199bf/model.safetensors", "\x08\x00", 90000, 300 * DAY},
		{"cache/embedding/models/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/"
		 "c9745ed1d9f207416be6d2e6f8de32d1f16199bf/config.json", "{\"_name_or_path\": ", 600, 300 * DAY},
		{"cache/embedding/models/models--sentence-transformers--all-MiniLM-L6-v2/refs/main",
		 "c9745ed1d9f207416be6d2e6f8de32d1f16199bf\n", 41, 300 * DAY},
		{"cache/whisper/models/models--Systran--faster-whisper-base/snapshots/"
		 "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66/model.bin", NULL, 70000, 200 * DAY},
		{"cache/whisper/models/models--Systran--faster-whisper-base/snapshots/"
		 "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66/vocabulary.txt", "<|endoftext|>\n", 900, 200 * DAY},
		{"cache/tiktoken/9b5ad71b2ce5302211f9c61530b329a4922fc6a4", "IQ== 0\n", 5000, 400 * DAY},
		{"cache/functions/auto_memory/state.json", "{\"enabled\": true", 64, 100 * DAY},
		{"cache/tools/web_scraper/cookies.txt", "# Netscape HTTP Cookie File\n", 200, 100 * DAY},
	};
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(files); i++)
		r = gen_write_file(g, files[i].path, strlen(files[i].path), files[i].head,
				   files[i].size, files[i].age);
	return r;
}

int gen_cache(struct gen *g)
{
	int r = gen_speech(g);

	if (r >= 0)
		r = gen_transcriptions(g);
	if (r >= 0)
		r = gen_images(g);
	if (r >= 0)
		r = gen_models(g);
	return r;
}
