/*
 * test_tokenizer.c — the SentencePiece tokenizer against token ids computed
 * independently: (1) the fixture's tokenizer.model through python3-
 * sentencepiece (ids below were generated once and committed as data), for
 * hand-written strings, a sample of eval.txt lines and the whole eval.txt
 * (count + hash); (2) the real SPM vocabularies in ../shared/vocab with
 * their expected .out ids (no BOS, special tokens not parsed).
 */
#include "testlib.h"
#include "model/tokenizer_spm.h"

/* Generated at test-writing time with python3-sentencepiece (Debian) from
 * fixtures/tokenizer.model: expected ids without BOS (SentencePiece encode with
 * add_dummy_prefix), for hand-written strings and every 97th line of eval.txt. */
typedef struct tok_case { const char *text; int n; const int ids[111]; } tok_case;
static const tok_case spm_cases[] = {
    {"Hello world", 4, {1116, 303, 4003, 2081}},
    {"And God said unto Moses,", 6, {485, 879, 801, 617, 2668, 4020}},
    {" leading space", 4, {3999, 2262, 282, 1302}},
    {"  two leading spaces", 6, {3508, 763, 2262, 282, 599, 1299}},
    {"trailing space ", 5, {469, 531, 282, 1302, 3999}},
    {"multiple   spaces   inside", 6, {1526, 3508, 599, 1299, 3508, 3094}},
    {"line one\012line two\012", 6, {1106, 493, 13, 1501, 763, 13}},
    {"\012\012\012", 4, {3999, 13, 13, 13}},
    {"tab\011separated\011values", 8, {3554, 12, 371, 1043, 478, 12, 1423, 946}},
    {"Digits 1234567890 and 3.14159", 23, {403, 354, 874, 3999, 4052, 4054, 4065, 4066, 4070, 4069, 4078, 4073, 4076, 4059, 295, 3999, 4065, 4016, 4052, 4066, 4052, 4070, 4076}},
    {"Caf\303\251 na\303\257ve r\303\251sum\303\251 \303\274ber", 20, {370, 2469, 198, 172, 294, 4002, 198, 178, 324, 402, 198, 172, 4006, 368, 198, 172, 3999, 198, 191, 597}},
    {"\346\227\245\346\234\254\350\252\236\343\201\256\343\203\206\343\202\255\343\202\271\343\203\210", 25, {3999, 233, 154, 168, 233, 159, 175, 235, 173, 161, 230, 132, 177, 230, 134, 137, 230, 133, 176, 230, 133, 188, 230, 134, 139}},
    {"emoji \360\237\230\200\360\237\232\200 end", 14, {954, 4003, 4062, 4004, 3999, 243, 162, 155, 131, 243, 162, 157, 131, 998}},
    {"int main(void) { return 0; } // code", 16, {1005, 1259, 4033, 4022, 1250, 4032, 372, 749, 3999, 4059, 4030, 3999, 4051, 1048, 4056, 786}},
    {"https://www.debian.org/doc/manuals/debian-reference/", 21, {2983, 1909, 3509, 4016, 495, 1406, 4016, 1805, 4056, 3906, 4056, 1484, 791, 4006, 4056, 495, 1406, 4024, 264, 1509, 4056}},
    {"The quick brown fox jumps over the lazy dog.", 17, {333, 3237, 1426, 829, 277, 3088, 610, 368, 969, 714, 263, 308, 1737, 4018, 492, 4017, 4016}},
    {"a", 1, {260}},
    {" ", 1, {3508}},
    {"\342\226\201already escaped", 5, {3999, 1917, 1140, 3318, 279}},
    {"<s> literal special text </s>", 11, {1114, 4006, 4079, 1435, 2947, 1842, 2229, 1114, 4056, 4006, 4079}},
    {"UPPER lower MiXeD", 10, {537, 4035, 4035, 1041, 2400, 413, 4004, 4075, 4000, 4039}},
    {"$ sudo apt-get install python3-sentencepiece", 19, {3397, 455, 4010, 4003, 260, 396, 4024, 760, 1404, 3469, 861, 4065, 4024, 4006, 311, 707, 4015, 623, 348}},
    {"The sluggard is wiser in his own conceit than seven men that can render a reason.", 25, {333, 966, 4012, 908, 441, 306, 274, 271, 267, 288, 538, 1131, 353, 348, 278, 785, 3042, 1190, 342, 412, 307, 2299, 260, 2080, 4016}},
    {"Who hath ascended up into heaven, or descended? who hath gathered the wind in his fists? who hath bound the waters in a garment? who hath established all the ends of the earth? what is his name, and what is his son's name, if thou canst tell?", 71, {3859, 1331, 339, 348, 272, 279, 471, 638, 2705, 4020, 320, 640, 348, 272, 279, 4067, 719, 1331, 327, 3617, 778, 263, 1758, 288, 538, 277, 3012, 4067, 719, 1331, 2239, 263, 3797, 404, 288, 260, 3055, 468, 4067, 719, 1331, 3347, 1568, 415, 263, 998, 4006, 284, 263, 1664, 4067, 995, 306, 538, 841, 4020, 295, 995, 306, 538, 1314, 4047, 4006, 841, 4020, 518, 711, 412, 318, 2227, 4067}},
    {"And who knoweth whether he shall be a wise man or a fool? yet shall he have rule over all my labour wherein I have laboured, and wherein I have shewed myself wise under the sun. This is also vanity.", 57, {485, 719, 1087, 553, 1734, 395, 578, 310, 260, 274, 767, 514, 320, 260, 3810, 4067, 1808, 578, 395, 475, 3241, 714, 415, 724, 2581, 528, 922, 262, 319, 475, 2581, 290, 778, 4020, 295, 922, 262, 319, 475, 988, 4021, 279, 724, 1697, 274, 767, 817, 263, 3351, 4016, 500, 306, 543, 351, 289, 464, 4016}},
    {"For there is not a just man upon earth, that doeth good, and sinneth not.", 21, {678, 596, 306, 391, 260, 1145, 514, 907, 1664, 4020, 342, 492, 553, 1166, 4020, 295, 2603, 4005, 553, 391, 4016}},
    {"I have compared thee, O my love, to a company of horses in Pharaoh's chariots.", 29, {319, 475, 604, 1223, 963, 4020, 442, 724, 2359, 4020, 287, 260, 604, 2711, 284, 298, 713, 276, 288, 1621, 292, 4002, 1630, 4047, 4006, 425, 723, 2233, 4016}},
    {"I charge you, O daughters of Jerusalem, that ye stir not up, nor awake my love, until he please.", 29, {319, 1034, 497, 392, 4020, 442, 3072, 1153, 284, 2749, 4020, 342, 715, 341, 374, 391, 471, 4020, 2101, 260, 4021, 549, 724, 2359, 4020, 1723, 395, 3048, 4016}},
    {"luggage in Brazil.", 10, {308, 4012, 908, 458, 288, 418, 517, 4061, 334, 4016}},
    {"Poppy:\011\011\011Sleep", 10, {379, 511, 2214, 4041, 12, 12, 12, 4028, 291, 1165}},
    {"lightheartedly.", 6, {1674, 261, 459, 279, 316, 4016}},
    {"Take what you can use and let the rest go by.", 13, {301, 549, 995, 392, 412, 560, 295, 1287, 263, 1560, 641, 369, 4016}},
    {"nobody really knows your origin, purpose, or destination.", 14, {629, 3760, 2745, 789, 903, 656, 2147, 4020, 2396, 4020, 320, 1536, 1576, 4016}},
    {"Who dat who say \"who dat\" when I say \"who dat\"?", 18, {3859, 2826, 719, 1071, 434, 2073, 4003, 2826, 4045, 526, 319, 1071, 434, 2073, 4003, 2826, 4045, 4067}},
    {"out 1400 homes and, of course, one raccoon.\"", 20, {569, 3999, 4052, 4066, 4059, 4059, 298, 314, 276, 295, 4020, 284, 2539, 4020, 493, 402, 313, 2552, 268, 870}},
    {"-- Siegfried Unseld", 9, {376, 330, 623, 4017, 4014, 2241, 1008, 1636, 4010}},
    {"We're overpaying him, but he's worth it. -Samuel Goldwyn", 25, {1462, 4047, 264, 714, 4015, 357, 282, 633, 4020, 544, 395, 4047, 4006, 3561, 355, 4016, 335, 4028, 325, 4012, 340, 433, 706, 4021, 975}},
    {"A green hunting cap squeezed the top of the fleshy balloon of a head.  The", 25, {312, 3863, 298, 337, 813, 1358, 3861, 490, 4061, 279, 263, 1826, 284, 263, 2965, 4018, 3378, 4003, 268, 284, 260, 1155, 4016, 3999, 333}},
    {"-- B. Franklin", 7, {376, 418, 4016, 3083, 1749, 4009, 262}},
    {"barked.  \"If you really need to know, I not only pledged a half million but", 25, {273, 961, 279, 4016, 3999, 434, 4027, 4014, 392, 2745, 716, 287, 1087, 4020, 319, 391, 645, 498, 279, 1698, 260, 3022, 3269, 296, 544}},
    {"Marlin Marlin, n. (Zool.) The American great marbled godwit ({Limosa fedoa}). Applied also to the red-breasted godwit ({Limosa haematica}).", 58, {413, 292, 4009, 262, 413, 292, 4009, 262, 4020, 294, 4016, 321, 1181, 467, 333, 2901, 1327, 2378, 1068, 279, 3218, 4021, 278, 1391, 4038, 322, 435, 4002, 277, 279, 4003, 4002, 3777, 2154, 1598, 543, 287, 263, 2171, 4024, 4019, 264, 513, 279, 3218, 4021, 278, 1391, 4038, 322, 435, 4002, 298, 4002, 356, 2191, 4002, 3777}},
    {"Mass'e Mass[e], or Mass'e shot Mass[e] shot, n. (Billiards) A stroke made with the cue held vertically.", 47, {413, 505, 4047, 4000, 413, 505, 4043, 4000, 3279, 320, 413, 505, 4047, 4000, 387, 315, 413, 505, 4043, 4000, 4044, 387, 315, 4020, 294, 4016, 321, 4048, 383, 4004, 441, 4006, 4032, 312, 341, 299, 546, 987, 360, 263, 270, 477, 3121, 687, 4001, 1031, 4016}},
    {"Matronize Matronize, v. t. [imp. & p. p. {Matronized}; p. pr. & vb. n. {Matronizing}.] 1. To make a matron of; to make matronlike.", 58, {413, 269, 1213, 762, 413, 269, 1213, 762, 4020, 351, 4016, 259, 4016, 389, 1334, 4016, 775, 280, 4016, 280, 4016, 372, 4040, 269, 1213, 1197, 1321, 280, 4016, 673, 4016, 775, 1401, 4016, 294, 4016, 372, 4040, 269, 1213, 2927, 647, 3999, 4052, 4016, 566, 833, 260, 2304, 1213, 284, 4030, 287, 833, 2304, 1213, 1927, 4016}},
    {"2. (Math.) A quantity having an intermediate value between several others, from which it is derived, and of which it expresses the resultant value; usually, unless otherwise specified, it is the simple average, formed by adding the quantities together and dividing by their number, which is called an {arithmetical mean}. A {geometrical mean} is the nth root of the product of the n quantities being averaged.", 106, {3999, 4054, 4016, 321, 4040, 619, 467, 312, 3342, 464, 1210, 350, 550, 2294, 388, 738, 1018, 1637, 2418, 4020, 419, 417, 355, 306, 2808, 1541, 4020, 295, 284, 417, 355, 1733, 276, 263, 1264, 449, 738, 4030, 1386, 4020, 3332, 2524, 1671, 4020, 355, 306, 263, 1974, 260, 332, 458, 4020, 3686, 369, 592, 282, 263, 3342, 1231, 1653, 295, 3221, 282, 369, 644, 769, 4020, 417, 306, 732, 350, 372, 292, 345, 3082, 657, 1922, 683, 312, 372, 497, 314, 305, 4007, 657, 1922, 4051, 306, 263, 294, 416, 1650, 284, 263, 1379, 304, 284, 263, 294, 3342, 1231, 827, 260, 332, 3211, 4016}},
    {"Unless you need to change the configuration, you can stop here and skip to Section 8.10.4, \342\200\234Compiling and Building the Package\342\200\235. If you need to change it, on the other hand, or if you decide to reconfigure everything from scratch, you must take the time to configure your kernel. There are various dedicated interfaces in the kernel source directory that can be used by calling the command, where target is one of the values described below.", 111, {1008, 1164, 392, 716, 287, 1342, 263, 1328, 4020, 392, 412, 2600, 1864, 295, 1787, 555, 287, 1722, 414, 3999, 4073, 4016, 4052, 4059, 4016, 4066, 4020, 2202, 3230, 4015, 334, 282, 295, 418, 4012, 720, 282, 263, 379, 439, 458, 4090, 4016, 593, 392, 716, 287, 1342, 355, 4020, 336, 263, 591, 682, 4020, 320, 518, 392, 1162, 542, 287, 307, 2091, 428, 3660, 419, 632, 4007, 858, 4020, 392, 803, 1220, 263, 686, 287, 3260, 656, 614, 4016, 1032, 381, 1928, 283, 279, 3925, 2498, 288, 263, 614, 1504, 1367, 342, 412, 310, 512, 369, 2305, 263, 788, 4020, 922, 1778, 306, 493, 284, 263, 1262, 1955, 1558, 4016}},
    {"Installing libpam-ldap automatically adapts the default PAM configuration defined in the , and files. This mechanism uses the dedicated tool (provided by the libpam-runtime package). This tool can also be run by the administrator should they wish to enable or disable PAM modules.", 71, {535, 2816, 282, 1677, 4015, 325, 4024, 437, 411, 2084, 457, 1178, 4006, 263, 978, 379, 1523, 1328, 1552, 288, 263, 3670, 295, 826, 4016, 500, 2221, 1532, 263, 283, 279, 3925, 2757, 321, 727, 4022, 331, 279, 369, 263, 1677, 4015, 325, 4024, 2857, 1416, 1430, 565, 500, 2757, 412, 543, 310, 809, 369, 263, 3308, 3585, 1089, 660, 516, 274, 712, 287, 1962, 320, 3057, 379, 1523, 1876, 4016}},
    {"* the \"~/.mailcap\" and \"/etc/mailcap\" file contents which associate MIME type with program (see mailcap(5))", 38, {506, 263, 434, 4093, 4056, 4016, 4013, 531, 3318, 4045, 295, 434, 4056, 967, 4056, 4013, 531, 3318, 4045, 677, 2941, 417, 1823, 388, 413, 2208, 4036, 1004, 360, 1013, 321, 2015, 2434, 3318, 4033, 4070, 4032, 4032}},
    {"LVM2 is a logical volume manager for the Linux kernel. With LVM2, disk partitions can be created on logical volumes instead of the physical harddisks.", 38, {394, 1446, 4054, 306, 260, 3757, 3852, 1508, 267, 323, 263, 1123, 614, 4016, 1907, 394, 1446, 4054, 4020, 2416, 652, 2919, 412, 310, 1673, 336, 3757, 1482, 368, 276, 1522, 284, 263, 2058, 876, 2616, 1530, 4016}},
    {"Here Isolinux boot loader (see Section 3.1.2, \342\200\234Stage 2: the boot loader\342\200\235) is used for booting.", 36, {2923, 999, 361, 893, 1659, 1372, 267, 321, 2015, 1722, 414, 3999, 4065, 4016, 4052, 4016, 4054, 4020, 2202, 4028, 2341, 3999, 4054, 4041, 263, 1659, 1372, 267, 4090, 4032, 306, 512, 323, 1659, 282, 4016}},
    {"9.11.1. Virtualization and emulation tools", 16, {3999, 4076, 4016, 4052, 4052, 4016, 4052, 4016, 577, 1343, 791, 1474, 295, 954, 2608, 2492}},
    {"* \"-prune\" always returns logical TRUE and, if it is a directory, searching of file is stopped beyond this point.", 32, {506, 434, 4024, 2268, 3750, 4045, 1325, 1678, 3757, 301, 4042, 4057, 4036, 295, 4020, 518, 355, 306, 260, 1367, 4020, 2896, 282, 284, 677, 306, 2600, 1579, 3820, 432, 1409, 4016}},
    {"II. Once all positional patterns have been converted to keyword patterns, the match proceeds as if there were only keyword patterns.", 32, {319, 4027, 4016, 2862, 415, 2375, 286, 2801, 4006, 475, 849, 1841, 777, 287, 3854, 2801, 4006, 4020, 263, 1925, 378, 2716, 4006, 339, 518, 596, 811, 645, 3854, 2801, 4006, 4016}},
    {"Instance methods .. index:: object: method object: user-defined method pair: user-defined; method", 25, {3699, 612, 1835, 2115, 2296, 4041, 4041, 793, 4041, 983, 793, 4041, 943, 4024, 3953, 1029, 983, 3233, 4041, 943, 4024, 3953, 1029, 4030, 983}},
    {"* If a class defines a slot also defined in a base class, the instance variable defined by the base class slot is inaccessible (except by retrieving its descriptor directly from the base class). This renders the meaning of the program undefined. In the future, a check may be added to prevent this.", 71, {506, 593, 260, 1067, 3224, 260, 966, 315, 543, 1552, 288, 260, 2228, 1067, 4020, 263, 1786, 2038, 1552, 369, 263, 2228, 1067, 966, 315, 306, 288, 313, 489, 744, 321, 1350, 1079, 369, 689, 2713, 1631, 668, 2601, 1869, 419, 263, 2228, 1067, 565, 500, 307, 272, 404, 263, 2955, 284, 263, 1013, 758, 1846, 1029, 4016, 535, 263, 2899, 4020, 260, 1134, 608, 310, 1729, 287, 2780, 432, 4016}},
    {"The theory about how to apply functions a safe way is rather complex. The aim is to define a so-called consistency model. It attempts to define conditions when the new implementation could be used so that the system stays consistent.", 53, {333, 263, 529, 940, 1027, 287, 3574, 1129, 260, 3227, 1002, 306, 2455, 2864, 4016, 333, 260, 322, 306, 287, 3365, 260, 558, 4024, 2357, 279, 1743, 1336, 3223, 4016, 622, 2447, 4006, 287, 3365, 1967, 4006, 526, 263, 733, 1996, 1384, 310, 512, 558, 342, 263, 666, 341, 765, 1743, 311, 4016}},
    {"The kernel livepatch consistency model relies on accurately identifying which functions may have live state and therefore may not be safe to patch. One way to identify which functions are live is to use a stacktrace.", 47, {333, 614, 2691, 4015, 858, 1743, 1336, 3223, 1049, 501, 336, 1016, 347, 1589, 1681, 3353, 417, 1129, 608, 475, 2691, 900, 295, 1825, 608, 391, 310, 3227, 287, 2266, 4016, 1132, 1002, 287, 1681, 1017, 417, 1129, 381, 2691, 306, 287, 560, 260, 2328, 3593, 4016}},
    {"- Restore the original state when the livepatch is disabled.", 15, {335, 460, 405, 409, 263, 2840, 900, 526, 263, 2691, 4015, 858, 306, 2439, 4016}},
};
/* encode(whole eval.txt): count and a 64-bit rolling hash h = h*1000003 + id */
#define EVAL_N_TOKENS 123176
#define EVAL_HASH 0xa93f6c0332fe0d20ull
static const int eval_first_ids[32] = {333, 966, 4012, 908, 441, 306, 274, 271, 267, 288, 538, 1131, 353, 348, 278, 785, 3042, 1190, 342, 412, 307, 2299, 260, 2080, 4016, 13, 4058, 4000, 342, 843, 553, 369};


static void print_ids(const char *what, const int32_t *ids, int64_t n) {
    fprintf(stderr, "    %s:", what);
    for (int64_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "\n");
}

static void test_fixture(void) {
    qtk_gguf *g = NULL;
    qtk_vocab *v = tl_load_vocab("fixtures/tiny-llama-f32.gguf", &g);
    if (!v) {
        qtk_gguf_close(g);
        return;
    }
    CHECK(qtk_vocab_n_tokens(v) == 4096 && qtk_vocab_bos(v) == 1 && qtk_vocab_adds_bos(v), "fixture vocab header");
    int ok = 0;
    for (size_t c = 0; c < sizeof spm_cases / sizeof spm_cases[0]; c++) {
        const tok_case *tc = &spm_cases[c];
        int32_t *ids = NULL;
        int64_t n = 0;
        qtk_error err;
        qtk_status st = qtk_tokenize(v, tc->text, strlen(tc->text), false, &ids, &n, &err);
        CHECK(st == QTK_OK, "tokenize: %s", err.msg);
        int same = st == QTK_OK && n == tc->n;
        for (int64_t i = 0; same && i < n; i++) same = ids[i] == tc->ids[i];
        CHECK(same, "fixture case %d \"%s\": ids differ", (int)c, tc->text);
        if (!same) {
            print_ids("got ", ids, n);
            print_ids("want", (const int32_t *)tc->ids, tc->n);
        }
        ok += same;
        /* with add_special: BOS in front, then the same ids */
        int32_t *ids2 = NULL;
        int64_t n2 = 0;
        st = qtk_tokenize(v, tc->text, strlen(tc->text), true, &ids2, &n2, &err);
        CHECK(st == QTK_OK && n2 == n + 1 && ids2[0] == 1 && (n == 0 || memcmp(ids2 + 1, ids, (size_t)n * 4) == 0),
              "case %d with BOS", (int)c);
        free(ids);
        free(ids2);
    }
    printf("  fixture tokenizer: %d/%d strings identical to sentencepiece\n", ok,
           (int)(sizeof spm_cases / sizeof spm_cases[0]));
    /* empty text: nothing, or BOS alone */
    int32_t *ids = NULL;
    int64_t n = -1;
    qtk_error err;
    CHECK(qtk_tokenize(v, "", 0, false, &ids, &n, &err) == QTK_OK && n == 0, "empty text");
    free(ids);
    CHECK(qtk_tokenize(v, "", 0, true, &ids, &n, &err) == QTK_OK && n == 1 && ids[0] == 1, "empty text + BOS");
    free(ids);
    /* the whole evaluation text */
    char *ev = tl_shared_path("fixtures/eval.txt");
    size_t sz = 0;
    unsigned char *txt = ev ? tl_read_file(ev, &sz) : NULL;
    if (txt) {
        qtk_status st = qtk_tokenize(v, (const char *)txt, sz, true, &ids, &n, &err);
        CHECK(st == QTK_OK, "eval.txt: %s", err.msg);
        if (st == QTK_OK) {
            CHECK(n == EVAL_N_TOKENS + 1 && ids[0] == 1, "eval.txt: %lld tokens with BOS, want %d", (long long)n,
                  EVAL_N_TOKENS + 1);
            unsigned long long h = 0;
            for (int64_t i = 1; i < n; i++) h = h * 1000003ull + (unsigned long long)ids[i];
            CHECK(h == EVAL_HASH, "eval.txt: id hash %016llx, want %016llx", h, EVAL_HASH);
            int first_ok = n > 32;
            for (int i = 0; first_ok && i < 32; i++) first_ok = ids[1 + i] == eval_first_ids[i];
            CHECK(first_ok, "eval.txt: first 32 ids");
        }
        free(ids);
    }
    free(txt);
    free(ev);
    qtk_vocab_free(v);
    qtk_gguf_close(g);
}

/* ggml vocab test files: strings split by "\n__ggml_vocab_test__\n", one line of ids each. */
static void test_vocab_file(const char *name) {
    char rel[128], relin[140], relout[140];
    snprintf(rel, sizeof rel, "vocab/%s", name);
    snprintf(relin, sizeof relin, "vocab/%s.inp", name);
    snprintf(relout, sizeof relout, "vocab/%s.out", name);
    qtk_gguf *g = NULL;
    qtk_vocab *v = tl_load_vocab(rel, &g);
    char *pin = tl_shared_path(relin), *pout = tl_shared_path(relout);
    size_t nin = 0, nout = 0;
    unsigned char *inp = pin ? tl_read_file(pin, &nin) : NULL;
    unsigned char *outp = pout ? tl_read_file(pout, &nout) : NULL;
    if (!v || !inp || !outp) {
        printf("  %s: not available, skipped\n", name);
        goto done;
    }
    inp = (unsigned char *)realloc(inp, nin + 1);
    inp[nin] = 0;
    outp = (unsigned char *)realloc(outp, nout + 1);
    outp[nout] = 0;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *s = (char *)inp, *line = (char *)outp;
    int cases = 0, ok = 0;
    while (*s || *line) {
        char *e = strstr(s, sep);
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char *le = strchr(line, '\n');
        if (le) *le = 0;
        int32_t want[512];
        int nw = 0;
        for (char *p = line; *p && nw < 512;) {
            char *q;
            long x = strtol(p, &q, 10);
            if (q == p) break;
            want[nw++] = (int32_t)x;
            p = q;
        }
        int32_t *ids = NULL;
        int64_t n = 0;
        qtk_error err;
        qtk_status st = qtk_tokenize(v, s, len, false, &ids, &n, &err);
        int same = st == QTK_OK && n == nw;
        for (int64_t i = 0; same && i < n; i++) same = ids[i] == want[i];
        CHECK(same, "%s case %d (%.*s): ids differ", name, cases, (int)(len > 40 ? 40 : len), s);
        if (!same) {
            print_ids("got ", ids, n);
            print_ids("want", want, nw);
        }
        ok += same;
        cases++;
        free(ids);
        if (!e) break;
        s = e + strlen(sep);
        line = le ? le + 1 : line + strlen(line);
    }
    printf("  %s: %d/%d cases identical\n", name, ok, cases);
    CHECK(cases >= 10, "%s: only %d cases parsed", name, cases);
done:
    free(inp);
    free(outp);
    free(pin);
    free(pout);
    qtk_vocab_free(v);
    qtk_gguf_close(g);
}

/* ---- segmented vs whole-text SentencePiece -------------------------------------- */

/* Ids of text with the given fast paths (tokenizer_spm.h); NULL on failure. */
static int32_t *tok_with(qtk_vocab *v, unsigned flags, const char *text, size_t len, bool bos, bool special,
                         int64_t *n) {
    qtk_vocab_spm_set_strategy(v, flags);
    int32_t *ids = NULL;
    qtk_error err;
    qtk_status st = qtk_tokenize_ex(v, text, len, bos, special, &ids, n, &err);
    qtk_vocab_spm_set_strategy(v, QTK_SPM_SEGMENT | QTK_SPM_CACHE);
    CHECK(st == QTK_OK, "tokenize (strategy %u): %s", flags, err.msg);
    return st == QTK_OK ? ids : NULL;
}

/* Whether text gives the same ids whole, segmented, and segmented with the
 * segment cache; reports the first difference under `what`. */
static int same_all_strategies(qtk_vocab *v, const char *what, const char *text, size_t len, bool bos,
                               bool special) {
    static const unsigned flags[3] = {0, QTK_SPM_SEGMENT, QTK_SPM_SEGMENT | QTK_SPM_CACHE};
    int64_t n[3] = {0, 0, 0};
    int32_t *ids[3];
    for (int m = 0; m < 3; m++) ids[m] = tok_with(v, flags[m], text, len, bos, special, &n[m]);
    int same = ids[0] && ids[1] && ids[2];
    for (int m = 1; same && m < 3; m++) {
        int64_t i = 0;
        while (i < n[0] && i < n[m] && ids[0][i] == ids[m][i]) i++;
        if (i < n[0] || i < n[m]) {
            CHECK(0, "%s: strategy %u differs from whole text at token %lld (%lld vs %lld tokens)", what, flags[m],
                  (long long)i, (long long)n[m], (long long)n[0]);
            same = 0;
        }
    }
    for (int m = 0; m < 3; m++) free(ids[m]);
    return same;
}

/* eval.txt through the real SentencePiece vocabularies: cutting before runs
 * of U+2581 (and caching segments) must not change a single id. */
static void test_segmented_eval(void) {
    static const char *const vocabs[] = {"fixtures/tiny-llama-f32.gguf", "vocab/ggml-vocab-llama-spm.gguf",
                                         "vocab/ggml-vocab-phi-3.gguf"};
    char *ev = tl_shared_path("fixtures/eval.txt");
    size_t sz = 0;
    unsigned char *txt = ev ? tl_read_file(ev, &sz) : NULL;
    free(ev);
    if (!txt) {
        printf("  segmented vs whole text: eval.txt not available, skipped\n");
        return;
    }
    for (size_t k = 0; k < sizeof vocabs / sizeof vocabs[0]; k++) {
        qtk_gguf *g = NULL;
        qtk_vocab *v = tl_load_vocab(vocabs[k], &g);
        if (v) {
            CHECK(qtk_vocab_spm_can_segment(v), "%s: the vocabulary should allow cutting before U+2581", vocabs[k]);
            int ok = same_all_strategies(v, vocabs[k], (const char *)txt, sz, true, false);
            printf("  %s: eval.txt segmented/cached %s whole-text tokenization\n", vocabs[k],
                   ok ? "identical to" : "DIFFERS from");
        }
        qtk_vocab_free(v);
        qtk_gguf_close(g);
    }
    free(txt);
}

/* Random texts made to stress the cut: runs of spaces, U+2581 written in
 * the text, stray and truncated UTF-8 (a lead byte can swallow an escaped
 * space), characters ending in 0x81, special-token spellings. */
static void test_segmented_random(void) {
    static const char *const parts[] = {
        " ",    "  ",   "\xE2\x96\x81", "\xE2", "\x96", "\x81",     "\xF0",         "\xC3",  "\xC3\x81",
        "\xE3\x81\x81", "the", "ing", "a",  "hello", "\n",   "\t", "1", "\xC3\xA9", "x", "\xE2\x96",
        "\x96\x81", "\xF0\x9F\x98\x80", "<s>", "world", " the", "\xF0\x9F\x98"};
    const int n_parts = (int)(sizeof parts / sizeof parts[0]);
    qtk_gguf *g = NULL;
    qtk_vocab *v = tl_load_vocab("vocab/ggml-vocab-llama-spm.gguf", &g);
    if (!v) {
        printf("  segmented vs whole text, random texts: vocabulary not available, skipped\n");
        qtk_gguf_close(g);
        return;
    }
    char *buf = (char *)malloc(4 * 2000);
    tl_rng r;
    tl_rng_seed(&r, 8);
    int ok = 0, cases = 400;
    for (int c = 0; buf && c < cases; c++) {
        size_t n = 0;
        const int k = 1 + (int)(tl_rng_u64(&r) % (c % 20 == 0 ? 2000 : 40));
        for (int j = 0; j < k; j++) {
            const char *p = parts[tl_rng_u64(&r) % (unsigned long long)n_parts];
            memcpy(buf + n, p, strlen(p));
            n += strlen(p);
        }
        char what[48];
        snprintf(what, sizeof what, "random text %d", c);
        ok += same_all_strategies(v, what, buf, n, (c & 1) != 0, (c & 2) != 0);
    }
    printf("  random texts: %d/%d identical segmented and whole\n", ok, cases);
    free(buf);
    qtk_vocab_free(v);
    qtk_gguf_close(g);
}

/* ---- a vocabulary-only GGUF image in memory ------------------------------------- */

typedef struct gbuf {
    unsigned char *p;
    size_t n, cap;
} gbuf;

static void gb_put(gbuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 256;
        unsigned char *p = (unsigned char *)realloc(b->p, cap);
        if (!p) return;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void gb_u32(gbuf *b, uint32_t x) {
    unsigned char c[4] = {(unsigned char)x, (unsigned char)(x >> 8), (unsigned char)(x >> 16),
                          (unsigned char)(x >> 24)};
    gb_put(b, c, 4);
}
static void gb_u64(gbuf *b, uint64_t x) {
    gb_u32(b, (uint32_t)x);
    gb_u32(b, (uint32_t)(x >> 32));
}
static void gb_str(gbuf *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_put(b, s, strlen(s));
}
static void gb_arr(gbuf *b, const char *key, uint32_t type, int n) {
    gb_str(b, key);
    gb_u32(b, 9);
    gb_u32(b, type);
    gb_u64(b, (uint64_t)n);
}

/* A "llama" vocabulary of <unk>, <s>, </s> and pieces[i] with score[i]. */
static qtk_vocab *mem_spm_vocab(const char *const *pieces, const float *scores, int n_pieces, gbuf *img,
                                qtk_gguf **g) {
    static const char *const head[3] = {"<unk>", "<s>", "</s>"};
    const int n = 3 + n_pieces;
    memset(img, 0, sizeof *img);
    gb_put(img, "GGUF", 4);
    gb_u32(img, 3);
    gb_u64(img, 0);
    gb_u64(img, 3);
    gb_str(img, "tokenizer.ggml.model");
    gb_u32(img, 8);
    gb_str(img, "llama");
    gb_arr(img, "tokenizer.ggml.tokens", 8, n);
    for (int i = 0; i < n; i++) gb_str(img, i < 3 ? head[i] : pieces[i - 3]);
    gb_arr(img, "tokenizer.ggml.scores", 6, n);
    for (int i = 0; i < n; i++) {
        float f = i < 3 ? 0.0f : scores[i - 3];
        uint32_t u;
        memcpy(&u, &f, 4);
        gb_u32(img, u);
    }
    qtk_error err;
    qtk_vocab *v = NULL;
    *g = NULL;
    if (qtk_gguf_open_memory(img->p, img->n, "mem-spm.gguf", g, &err) != QTK_OK ||
        qtk_vocab_load(*g, &v, &err) != QTK_OK) {
        CHECK(0, "memory SPM vocabulary: %s", err.msg);
        return NULL;
    }
    return v;
}

/* A vocabulary with a token where U+2581 follows another character must
 * not be cut: "x y" -> "▁x▁y" merges "x▁" first (highest score), which a
 * cut before the second "▁" would prevent. Without that token, it is cut. */
static void test_unsafe_vocab(void) {
    static const char *const pieces[] = {"\xE2\x96\x81", "x", "y", "\xE2\x96\x81x", "\xE2\x96\x81y", "x\xE2\x96\x81"};
    static const float scores[] = {-5.0f, -5.0f, -5.0f, -2.0f, -2.0f, -1.0f};
    gbuf img;
    qtk_gguf *g = NULL;
    qtk_vocab *v = mem_spm_vocab(pieces, scores, 6, &img, &g);  /* ids 3.. = pieces */
    if (v) {
        CHECK(!qtk_vocab_spm_can_segment(v), "a vocabulary with token \"x_\" (_ = U+2581) must not be cut");
        int64_t n = 0;
        int32_t *ids = tok_with(v, QTK_SPM_SEGMENT | QTK_SPM_CACHE, "x y", 3, false, false, &n);
        CHECK(ids && n == 3 && ids[0] == 3 && ids[1] == 8 && ids[2] == 5, "unsafe vocab: \"x y\" -> [_, x_, y]");
        free(ids);
        CHECK(same_all_strategies(v, "unsafe vocab", "x y x  y", 8, false, false), "unsafe vocab: strategies");
    }
    qtk_vocab_free(v);
    qtk_gguf_close(g);
    free(img.p);
    /* the same without "x▁": cut, "▁x" and "▁y" */
    v = mem_spm_vocab(pieces, scores, 5, &img, &g);
    if (v) {
        CHECK(qtk_vocab_spm_can_segment(v), "a vocabulary with only leading U+2581 can be cut");
        int64_t n = 0;
        int32_t *ids = tok_with(v, QTK_SPM_SEGMENT | QTK_SPM_CACHE, "x y", 3, false, false, &n);
        CHECK(ids && n == 2 && ids[0] == 6 && ids[1] == 7, "safe vocab: \"x y\" -> [_x, _y]");
        free(ids);
    }
    qtk_vocab_free(v);
    qtk_gguf_close(g);
    free(img.p);
}

static void test_unsupported(void) {
    qtk_gguf *g = NULL;
    char *path = tl_shared_path("vocab/ggml-vocab-gpt-2.gguf");
    if (!path) return;
    qtk_error err;
    if (qtk_gguf_open(path, &g, &err) == QTK_OK) {
        qtk_vocab *v = NULL;
        qtk_status st = qtk_vocab_load(g, &v, &err);
        /* byte-level BPE is supported now (tests/test_vocab.c checks its ids) */
        CHECK(st == QTK_OK && v && qtk_vocab_get_kind(v) == QTK_VOCAB_BPE, "gpt2 vocab: status %d '%s'", (int)st,
              st == QTK_OK ? "" : err.msg);
        qtk_vocab_free(v);
        qtk_gguf_close(g);
    }
    free(path);
}

int main(void) {
    char *probe = tl_shared_path("fixtures/tiny-llama-f32.gguf");
    if (!probe) {
        /* the in-memory vocabulary test needs no reference data */
        test_unsafe_vocab();
        if (tl_failures) return tl_finish("test_tokenizer");
        return tl_skip("test_tokenizer", "fixtures not found (only the in-memory vocabulary test ran)");
    }
    free(probe);
    test_fixture();
    test_vocab_file("ggml-vocab-llama-spm.gguf");
    test_vocab_file("ggml-vocab-phi-3.gguf");
    test_unsupported();
    test_segmented_eval();
    test_segmented_random();
    test_unsafe_vocab();
    return tl_finish("test_tokenizer");
}
