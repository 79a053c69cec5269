/* Unit tests of the name printers (tools/output.c, compiled in here since
 * tools/ is not a library): strict UTF-8 validation, JSON strings and the
 * base64 companion field for names that are not UTF-8, and the escaped
 * one-line form for tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdlib.h>

#include "tools/output.c"

/* Runs a printer into a string. */
#define CAPTURE(out, call)                                                                         \
	do {                                                                                       \
		size_t _len;                                                                       \
		FILE *f = open_memstream(&(out), &_len);                                           \
		assert_non_null(f);                                                                \
		call;                                                                              \
		fclose(f);                                                                         \
	} while (0)

#define S(lit) lit, sizeof(lit) - 1

static void test_utf8_valid(void **state)
{
	assert_true(utf8_is_valid(S("")));
	assert_true(utf8_is_valid(S("plain ascii.txt")));
	assert_true(utf8_is_valid(S("caf\xc3\xa9")));	   /* U+00E9 */
	assert_true(utf8_is_valid(S("\xe2\x82\xac")));	   /* U+20AC */
	assert_true(utf8_is_valid(S("\xf0\x9f\x98\x80"))); /* U+1F600 */
	assert_true(utf8_is_valid(S("\xf4\x8f\xbf\xbf"))); /* U+10FFFF */
	assert_true(utf8_is_valid(S("\xed\x9f\xbf")));	   /* U+D7FF */
	assert_true(utf8_is_valid(S("\xee\x80\x80")));	   /* U+E000 */
	assert_true(utf8_is_valid(S("a\nb\x01")));	   /* controls are valid */
	assert_true(utf8_is_valid("a\0b", 3));		   /* length, not NUL */

	assert_false(utf8_is_valid(S("\xff")));
	assert_false(utf8_is_valid(S("\x80")));		    /* lone continuation */
	assert_false(utf8_is_valid(S("caf\xe9")));	    /* Latin-1 */
	assert_false(utf8_is_valid(S("\xc0\xaf")));	    /* overlong '/' */
	assert_false(utf8_is_valid(S("\xc1\xbf")));	    /* overlong */
	assert_false(utf8_is_valid(S("\xe0\x80\xaf")));	    /* overlong, 3 bytes */
	assert_false(utf8_is_valid(S("\xe0\x9f\xbf")));	    /* overlong U+07FF */
	assert_false(utf8_is_valid(S("\xf0\x8f\xbf\xbf"))); /* overlong U+FFFF */
	assert_false(utf8_is_valid(S("\xed\xa0\x80")));	    /* surrogate D800 */
	assert_false(utf8_is_valid(S("\xed\xbf\xbf")));	    /* surrogate DFFF */
	assert_false(utf8_is_valid(S("\xf4\x90\x80\x80"))); /* U+110000 */
	assert_false(utf8_is_valid(S("\xf5\x80\x80\x80")));
	assert_false(utf8_is_valid(S("\xe2\x82")));	/* truncated */
	assert_false(utf8_is_valid(S("\xe2\x28\xa1"))); /* bad continuation */
	assert_false(utf8_is_valid("\xc3\xa9", 1));	/* cut by the length */
}

static void test_json_string(void **state)
{
	char *out = NULL;

	CAPTURE(out, json_print_string(f, S("a \"quoted\" \\ name")));
	assert_string_equal(out, "\"a \\\"quoted\\\" \\\\ name\"");
	free(out);
	CAPTURE(out, json_print_string(f, S("line\nbreak\ttab\rcr\x01\x1f\x7f")));
	assert_string_equal(out, "\"line\\nbreak\\ttab\\rcr\\u0001\\u001f\\u007f\"");
	free(out);
	CAPTURE(out, json_print_string(f, "nul\0x", 5));
	assert_string_equal(out, "\"nul\\u0000x\"");
	free(out);
	CAPTURE(out, json_print_string(f, S("caf\xc3\xa9 \xf0\x9f\x98\x80")));
	assert_string_equal(out, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
	free(out);
	/* each invalid byte becomes one U+FFFD; valid neighbours survive */
	CAPTURE(out, json_print_string(f, S("a\xff\xfe"
					    "b\xed\xa0\x80"
					    "c")));
	assert_string_equal(out, "\"a\\ufffd\\ufffdb\\ufffd\\ufffd\\ufffdc\"");
	free(out);
	CAPTURE(out, json_print_string(f, S("")));
	assert_string_equal(out, "\"\"");
	free(out);
}

static void test_json_name_field(void **state)
{
	char *out = NULL;

	CAPTURE(out, json_print_name_field(f, "path", S("uploads/a b.pdf")));
	assert_string_equal(out, "\"path\":\"uploads/a b.pdf\"");
	free(out);
	/* valid UTF-8 with a newline needs no base64: JSON carries it exactly */
	CAPTURE(out, json_print_name_field(f, "path", S("new\nline")));
	assert_string_equal(out, "\"path\":\"new\\nline\"");
	free(out);
	/* invalid: lossy string plus the exact bytes ("caf\xe9" = Y2Fm6Q==) */
	CAPTURE(out, json_print_name_field(f, "path", S("caf\xe9")));
	assert_string_equal(out, "\"path\":\"caf\\ufffd\",\"path_base64\":\"Y2Fm6Q==\"");
	free(out);
	/* padding: 1, 2 and 0 bytes left over */
	CAPTURE(out, json_print_name_field(f, "n", S("\xff")));
	assert_string_equal(out, "\"n\":\"\\ufffd\",\"n_base64\":\"/w==\"");
	free(out);
	CAPTURE(out, json_print_name_field(f, "n", S("\xff\xfe")));
	assert_string_equal(out, "\"n\":\"\\ufffd\\ufffd\",\"n_base64\":\"//4=\"");
	free(out);
	CAPTURE(out, json_print_name_field(f, "n", S("\xfb\xff\xbf")));
	assert_string_equal(out, "\"n\":\"\\ufffd\\ufffd\\ufffd\",\"n_base64\":\"+/+/\"");
	free(out);
}

static void test_text_name(void **state)
{
	char *out = NULL;

	CAPTURE(out, text_print_name(f, S("uploads/a b.pdf")));
	assert_string_equal(out, "uploads/a b.pdf");
	free(out);
	CAPTURE(out, text_print_name(f, S("new\nline\ttab")));
	assert_string_equal(out, "new\\x0aline\\x09tab");
	free(out);
	CAPTURE(out, text_print_name(f, S("back\\slash \"q\"")));
	assert_string_equal(out, "back\\\\slash \"q\"");
	free(out);
	/* a name that looks like an escape stays distinguishable from one */
	CAPTURE(out, text_print_name(f, S("\\x0a")));
	assert_string_equal(out, "\\\\x0a");
	free(out);
	CAPTURE(out, text_print_name(f, S("caf\xc3\xa9 caf\xe9 \x1b[31m \x7f")));
	assert_string_equal(out, "caf\xc3\xa9 caf\\xe9 \\x1b[31m \\x7f");
	free(out);
	/* C1 controls (U+009B is a CSI) are escaped byte by byte */
	CAPTURE(out, text_print_name(f, S("a\xc2\x9b"
					  "b")));
	assert_string_equal(out, "a\\xc2\\x9bb");
	free(out);
	/* bidi overrides and line separators could make a name look like
	 * another: "evil\u202Efdp.exe" displays as "evilexe.pdf" */
	CAPTURE(out, text_print_name(f, S("evil\xe2\x80\xae"
					  "fdp.exe \xe2\x80\xa8 \xe2\x81\xa6")));
	assert_string_equal(out, "evil\\xe2\\x80\\xaefdp.exe \\xe2\\x80\\xa8 \\xe2\\x81\\xa6");
	free(out);
	CAPTURE(out, text_print_name(f, "a\0b", 3));
	assert_string_equal(out, "a\\x00b");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8_valid),
	    cmocka_unit_test(test_json_string),
	    cmocka_unit_test(test_json_name_field),
	    cmocka_unit_test(test_text_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
