/* Printing names for people and for programs. File names are bytes: a
 * terminal gets every name as one unambiguous line (escapes for control
 * bytes, backslashes and invalid UTF-8), and JSON gets a valid string
 * plus, for names that are not UTF-8, the exact bytes in base64 (the
 * encoding is documented in docs/json.md). */
#include <stdint.h>
#include <string.h>

#include "tools/fsdctl.h"

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0: overlong
 * forms, surrogates and code points above U+10FFFF are not well-formed. */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3;
		cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	*ret_cp = cp;
	return n;
}

bool utf8_is_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(u + i, len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

void json_print_string(FILE *f, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(u + i, len - i, &cp);
		if (n == 0) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		switch (cp) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (cp < 0x20 || cp == 0x7F)
				fprintf(f, "\\u%04x", (unsigned)cp);
			else
				fwrite(u + i, 1, n, f);
		}
		i += n;
	}
	fputc('"', f);
}

static void base64_print(FILE *f, const unsigned char *s, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		fputc(tab[v >> 18 & 63], f);
		fputc(tab[v >> 12 & 63], f);
		fputc(i + 1 < len ? tab[v >> 6 & 63] : '=', f);
		fputc(i + 2 < len ? tab[v & 63] : '=', f);
	}
}

void json_print_name_field(FILE *f, const char *field, const char *s, size_t len)
{
	json_print_string(f, field, strlen(field));
	fputc(':', f);
	json_print_string(f, s, len);
	if (utf8_is_valid(s, len))
		return;
	fputc(',', f);
	fputc('"', f);
	fputs(field, f);
	fputs("_base64\":\"", f);
	base64_print(f, (const unsigned char *)s, len);
	fputc('"', f);
}

/* C0 and C1 controls and DEL, which a terminal may act on; the line and
 * paragraph separators; and the bidirectional controls, which can make a
 * name display as another. */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0x61C || cp == 0x200E ||
	       cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

void text_print_name(FILE *f, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(u + i, len - i, &cp);
		if (n == 0) {
			fprintf(f, "\\x%02x", u[i]);
			i++;
			continue;
		}
		if (cp == '\\')
			fputs("\\\\", f);
		else if (is_control(cp))
			for (size_t k = 0; k < n; k++)
				fprintf(f, "\\x%02x", u[i + k]);
		else
			fwrite(u + i, 1, n, f);
		i += n;
	}
}
