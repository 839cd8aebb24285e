/* A model file from a stranger (issue 12): shapes checked before anything
 * is allocated, non-finite weights refused on load and save, stale
 * temporary files of killed saves removed. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cl_classifier.h"
#include "cl_conllu.h"
#include "cl_lm.h"
#include "cl_model.h"
#include "cl_tagger.h"
#include "cl_tagger_impl.h"
#include "cl_test.h"
#include "cl_tsv.h"

/* Copy key i of s into w (same name, type and value). */
static void copy_key(cl_ckpt_writer *w, const cl_ckpt_section *s, int i)
{
    int type;
    const char *key = cl_ckpt_key_at(s, i, &type);
    int64_t iv;
    double fv;
    const char *sv;
    const char *const *list;
    int n;
    if (type == CL_CKPT_I64 && !cl_ckpt_get_i64(s, key, &iv, NULL))
        ck_assert_int_eq(cl_ckpt_put_i64(w, key, iv), 0);
    else if (type == CL_CKPT_F64 && !cl_ckpt_get_f64(s, key, &fv, NULL))
        ck_assert_int_eq(cl_ckpt_put_f64(w, key, fv), 0);
    else if (type == CL_CKPT_STR && !cl_ckpt_get_str(s, key, &sv, NULL))
        ck_assert_int_eq(cl_ckpt_put_str(w, key, sv), 0);
    else if (type == CL_CKPT_STRS && !cl_ckpt_get_strs(s, key, &list, &n, NULL))
        ck_assert_int_eq(cl_ckpt_put_strs(w, key, list, n), 0);
    else
        ck_abort_msg("key %s: cannot copy", key);
}

/* Copy tensor i of s into w; with poison, element 0 becomes NaN. */
static void copy_tensor(cl_ckpt_writer *w, const cl_ckpt_section *s, int i, int poison)
{
    cl_ckpt_tensor_info t;
    cl_ckpt_tensor_at(s, i, &t);
    size_t n = t.nbytes / 4;
    void *buf = malloc(t.nbytes ? t.nbytes : 4);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, t.data, t.nbytes); /* little-endian host, as the file */
    if (t.dtype == CL_CKPT_F32) {
        if (poison && n)
            ((float *)buf)[0] = NAN;
        ck_assert_int_eq(cl_ckpt_put_f32(w, t.name, t.ndim, t.shape, buf), 0);
    } else {
        ck_assert_int_eq(cl_ckpt_put_i32(w, t.name, t.ndim, t.shape, buf), 0);
    }
    free(buf);
}

/* dst = src with, in section, key set to value (if key) and element 0 of
 * tensor poison made NaN (if poison); CRCs are computed anew by the writer. */
static void harden_rewrite(const char *src, const char *dst, const char *section,
                           const char *key, int64_t value, const char *poison)
{
    cl_ckpt *ck;
    cl_ckpt_writer *w;
    ck_assert_int_eq(cl_ckpt_load(&ck, src, NULL), 0);
    ck_assert_int_eq(cl_ckpt_writer_open(&w, dst, NULL), 0);
    for (int i = 0; i < cl_ckpt_nsections(ck); i++) {
        const cl_ckpt_section *s = cl_ckpt_section_at(ck, i);
        if (strcmp(cl_ckpt_section_name(s), section) != 0) {
            ck_assert_int_eq(cl_ckpt_copy_section(w, s), 0);
            continue;
        }
        ck_assert_int_eq(cl_ckpt_section_begin(w, section), 0);
        for (int k = 0; k < cl_ckpt_nkeys(s); k++) {
            const char *name = cl_ckpt_key_at(s, k, NULL);
            if (key && strcmp(name, key) == 0)
                ck_assert_int_eq(cl_ckpt_put_i64(w, key, value), 0);
            else
                copy_key(w, s, k);
        }
        for (int k = 0; k < cl_ckpt_ntensors(s); k++) {
            cl_ckpt_tensor_info t;
            cl_ckpt_tensor_at(s, k, &t);
            copy_tensor(w, s, k, poison && strcmp(t.name, poison) == 0);
        }
        ck_assert_int_eq(cl_ckpt_section_end(w), 0);
    }
    ck_assert_int_eq(cl_ckpt_writer_commit(w, NULL), 0);
    cl_ckpt_free(ck);
}

/* A model whose vocabulary and tag set come from one sentence: encoder ec
 * (its vocabulary size filled in here), a tagger configured as tc. */
static cl_model *sentence_tagger(cl_encoder_config ec, cl_tagger_config tc, cl_rng *rng)
{
    static const char *const forms[] = {"The", "cat", "sat", "on", "a", "mat", "."};
    static const char *const tags[] = {"DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"};
    cl_tagger_corpus c;
    cl_tagger_corpus_init(&c);
    ck_assert_int_eq(cl_tagger_corpus_add(&c, forms, tags, 7), 0);
    cl_text_opts text = cl_text_defaults();
    cl_vocab v;
    ck_assert_int_eq(cl_tagger_vocab_build(&v, &c, &text, NULL), 0);
    ec.vocab = cl_vocab_size(&v);
    cl_model *m;
    ck_assert_int_eq(cl_model_create(&m, &text, &v, &ec, rng), 0);
    ck_assert_int_eq(cl_tagger_config_build(&tc, &c, 1), 0);
    ck_assert_int_eq(cl_model_add_head(m, &cl_tagger_head_ops, cl_tagger_config_dup(&tc), rng),
                     0);
    cl_tagger_config_clear(&tc);
    cl_tagger_corpus_free(&c);
    return m;
}

/* A small model with all three heads (classifier with n-grams). */
static cl_model *three_heads(void)
{
    static const char *const labels[] = {"neg", "pos"};
    cl_encoder_config ec = {0, 8, {CL_CELL_LSTM, 8, 12, 1, 0, 0}};
    cl_tagger_config tc = cl_tagger_config_defaults();
    tc.feat.buckets = 64, tc.char_emb = 4, tc.char_hidden = 4, tc.feat_emb = 4;
    tc.word_emb = 4, tc.word_hidden = 4;
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    cl_model *m = sentence_tagger(ec, tc, &rng);
    ck_assert_int_eq(cl_model_add_head(m, &cl_lm_head_ops, cl_lm_head_new(0.1f), &rng), 0);
    cl_classifier_config *cc;
    ck_assert_int_eq(cl_classifier_config_new(&cc, labels, 2, NULL), 0);
    cc->hidden = 4, cc->ngram = 1, cc->ngram_bits = 10;
    ck_assert_int_eq(cl_model_add_head(m, &cl_classifier_head_ops, cc, &rng), 0);
    return m;
}

static const char *saved_model(char *path, size_t size)
{
    snprintf(path, size, "%s/three.model", cl_test_tmpdir());
    cl_model *m = three_heads();
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    cl_model_free(m);
    return path;
}

/* Virtual memory the process holds now, in bytes (/proc/self/statm). */
static size_t vm_now(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Load path in a child whose address space may grow by at most extra bytes
 * (RLIMIT_AS; AddressSanitizer's shadow memory needs more, so the sanitizer
 * build only checks the result).  Returns the load's result; msg gets its
 * message.  A crash or a kill fails the test. */
static int load_limited(const char *path, size_t extra, char *msg, size_t size)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fd[0]);
#ifndef __SANITIZE_ADDRESS__
        struct rlimit rl = {vm_now() + extra, vm_now() + extra};
        setrlimit(RLIMIT_AS, &rl);
#else
        (void)extra;
#endif
        cl_model *m;
        cl_diag d = {{0}};
        int rc = cl_model_load(&m, path, NULL, &d);
        cl_model_free(m);
        if (write(fd[1], &rc, sizeof rc) != sizeof rc ||
            write(fd[1], d.msg, sizeof d.msg) != (ssize_t)sizeof d.msg)
            _exit(2);
        _exit(0);
    }
    close(fd[1]);
    int rc = 1, status;
    cl_diag d = {{0}};
    ck_assert_int_eq(read(fd[0], &rc, sizeof rc), sizeof rc);
    ck_assert_int_eq(read(fd[0], d.msg, sizeof d.msg), sizeof d.msg);
    close(fd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(msg, size, "%s", d.msg);
    return rc;
}

/* A file that declares a huge component over the small tensors is refused
 * by the shape check, within 64 MB more address space (before: the whole
 * parameter buffer was allocated first, 1 to 2 GB). */
static void expect_refused_small(const char *section, const char *key, int64_t value,
                                 const char *expect)
{
    char src[512], dst[512], msg[512];
    saved_model(src, sizeof src);
    snprintf(dst, sizeof dst, "%s/crafted-%s.model", cl_test_tmpdir(), key);
    harden_rewrite(src, dst, section, key, value, NULL);
    int rc = load_limited(dst, (size_t)64 << 20, msg, sizeof msg);
    ck_assert_msg(rc != 0 && rc != CL_ENOMEM, "%s = %lld: load gave %d (%s)", key,
                  (long long)value, rc, msg);
    ck_assert_msg(strstr(msg, expect), "%s: message \"%s\" lacks \"%s\"", key, msg, expect);
}

START_TEST(test_crafted_sizes_refused_small)
{
    char src[512], msg[512];
    ck_assert_int_eq(load_limited(saved_model(src, sizeof src), (size_t)64 << 20, msg,
                                  sizeof msg), 0);
    expect_refused_small("encoder", "hidden", 8192, "weight_ih_l0");
    expect_refused_small("head.classifier", "ngram_bits", 26, "ngram");
    expect_refused_small("head.tagger", "feat_buckets", 1 << 22, "feat");
    expect_refused_small("head.classifier", "max_chars", 1 << 24, "max_chars");
}
END_TEST

START_TEST(test_nonfinite_load_refused)
{
    char src[512], dst[512], msg[512];
    saved_model(src, sizeof src);
    snprintf(dst, sizeof dst, "%s/nan.model", cl_test_tmpdir());
    harden_rewrite(src, dst, "head.lm", NULL, 0, "bias");
    ck_assert_int_eq(load_limited(dst, (size_t)64 << 20, msg, sizeof msg), CL_EFORMAT);
    ck_assert_msg(strstr(msg, "head.lm.bias") && strstr(msg, "non-finite"), "%s", msg);
}
END_TEST

START_TEST(test_nonfinite_save_refused)
{
    char path[512];
    saved_model(path, sizeof path);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char before[1 << 20], after[1 << 20];
    size_t n = fread(before, 1, sizeof before, f);
    fclose(f);
    cl_model *m = three_heads();
    m->params.w[m->params.t[m->params.nt - 1].offset] = NAN;
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, &d), CL_EINVAL);
    ck_assert_msg(strstr(d.msg, m->params.t[m->params.nt - 1].name), "%s", d.msg);
    m->params.w[0] = INFINITY;
    ck_assert_int_ne(cl_model_save(m, path, NULL, NULL, &d), 0);
    cl_model_free(m);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(after, 1, sizeof after, f), n);
    fclose(f);
    ck_assert(memcmp(before, after, n) == 0);
}
END_TEST

/* PATH.tmp.PID of a process that is gone is removed by the next save of
 * PATH; one of a running process is kept. */
START_TEST(test_stale_tmp_removed)
{
    char path[512], dead[600], live[600];
    saved_model(path, sizeof path);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    snprintf(dead, sizeof dead, "%s.tmp.%ld", path, (long)pid);
    snprintf(live, sizeof live, "%s.tmp.%ld", path, (long)getppid());
    cl_test_write(dead, "x", 1);
    cl_test_write(live, "x", 1);
    cl_model *m = three_heads();
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    cl_model_free(m);
    ck_assert_int_ne(access(dead, F_OK), 0);
    ck_assert_int_eq(access(live, F_OK), 0);
    unlink(live);
}
END_TEST

/* ---- -o PATH (CLI) ------------------------------------------------------ */

static char out[65536];

static const char *tiny_corpus(char *path, size_t size)
{
    static const char text[] = "the cat sat on the mat. the dog sat on the log.\n";
    snprintf(path, size, "%s/corpus.txt", cl_test_tmpdir());
    cl_test_write(path, text, sizeof text - 1);
    return path;
}

#define TINY "--layers 1 --hidden 8 --emb 4 --batch 2 --seq 8 --steps 2 -q --threads 1"

/* A FIFO, a directory or a missing directory at -o: refused before training
 * with a message (before: the FIFO was renamed over, exit 0). */
START_TEST(test_output_not_regular_refused)
{
    char text[512], fifo[600], sub[600], missing[600];
    tiny_corpus(text, sizeof text);
    snprintf(fifo, sizeof fifo, "%s/fifo", cl_test_tmpdir());
    snprintf(sub, sizeof sub, "%s/sub", cl_test_tmpdir());
    snprintf(missing, sizeof missing, "%s/no/such/dir/m.model", cl_test_tmpdir());
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    int rc = cl_test_run(out, sizeof out, "train --train '%s' -o '%s' " TINY " 2>&1", text, fifo);
    ck_assert_msg(rc == 1 && strstr(out, "is a FIFO"), "%d: %s", rc, out);
    struct stat st;
    ck_assert(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    rc = cl_test_run(out, sizeof out, "train --train '%s' -o '%s' " TINY " 2>&1", text, sub);
    ck_assert_msg(rc == 1 && strstr(out, "is a directory"), "%d: %s", rc, out);
    rc = cl_test_run(out, sizeof out, "train --train '%s' -o '%s' " TINY " 2>&1", text, missing);
    ck_assert_msg(rc == 1 && strstr(out, "not writable") && !strstr(out, "step"), "%d: %s", rc,
                  out);
}
END_TEST

/* The library refuses too, whoever calls it. */
START_TEST(test_ckpt_refuses_fifo)
{
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo2", cl_test_tmpdir());
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    cl_model *m = three_heads();
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_model_save(m, fifo, NULL, NULL, &d), CL_EIO);
    ck_assert_msg(strstr(d.msg, "not a regular file"), "%s", d.msg);
    cl_model_free(m);
    struct stat st;
    ck_assert(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
}
END_TEST

/* ---- bounded memory for long input -------------------------------------- */

/* A tagger of the default size (random weights: memory does not depend on
 * them) saved to path. */
static void default_tagger(const char *path)
{
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    cl_model *m = sentence_tagger(cl_tagger_tiny_encoder(2), cl_tagger_config_defaults(), &rng);
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    cl_model_free(m);
}

/* The memory tests need RLIMIT_AS, which AddressSanitizer's shadow memory
 * cannot live with. */
#ifdef __SANITIZE_ADDRESS__
#define SKIP_UNDER_ASAN()                                                              \
    do {                                                                               \
        printf("%s: skipped, ASan needs more address space\n", __func__);              \
        return;                                                                        \
    } while (0)
#else
#define SKIP_UNDER_ASAN() (void)0
#endif

/* nlines lines of piece repeated reps times into path. */
static void write_lines(const char *path, int nlines, const char *piece, int reps)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < nlines; i++) {
        for (int k = 0; k < reps; k++)
            fputs(piece, f);
        fputc('\n', f);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* `charlstm CMD -m MODEL --threads 1 INPUT | wc WC` with 1 GB of address
 * space; the count, or -1 when the command failed (output in out). */
static long count_within_1gb(const char *cmd, const char *model, const char *input,
                             const char *wc)
{
    char line[2048];
    snprintf(line, sizeof line, "ulimit -v 1048576; '%s' %s -m '%s' --threads 1 '%s' 2>&1 | "
             "wc %s", CL_TOOL, cmd, model, input, wc);
    return cl_test_shell(line, out, sizeof out) == 0 ? atol(out) : -1;
}

/* A model made by make_model, an input of nlines lines of piece x reps,
 * and `charlstm cmd` over it within 1 GB: `wc wc` of its output is expect. */
static void expect_within_1gb(const char *cmd, void (*make_model)(const char *), int nlines,
                              const char *piece, int reps, const char *wc, long expect)
{
    char model[512], input[600];
    snprintf(model, sizeof model, "%s/%s.model", cl_test_tmpdir(), cmd);
    snprintf(input, sizeof input, "%s/%s.txt", cl_test_tmpdir(), cmd);
    make_model(model);
    write_lines(input, nlines, piece, reps);
    long n = count_within_1gb(cmd, model, input, wc);
    ck_assert_msg(n == expect, "%s: %ld: %s", cmd, n, out);
}

/* One line of 10,000 words is tagged within 1 GB of address space (before:
 * 12.2 GB, the workspace held the longest sentence times the batch). */
START_TEST(test_tag_long_sentence_bounded)
{
    SKIP_UNDER_ASAN();
    expect_within_1gb("tag", default_tagger, 1, "the cat ", 5000, "-w", 10000);
}
END_TEST

/* A sentence of 1,300 words is tagged in overlapping windows; the tags
 * agree with one pass over the whole sentence (cl_tagger_forward), with and
 * without the LM states (whose text each window starts anew). */
static void windows_agree(int use_lm)
{
    cl_encoder_config ec = {0, 8, {CL_CELL_LSTM, 8, 12, 1, 0, 0}};
    cl_tagger_config tc = cl_tagger_config_defaults();
    tc.feat.buckets = 64, tc.char_emb = 4, tc.char_hidden = 4, tc.feat_emb = 4;
    tc.word_emb = 4, tc.word_hidden = 6, tc.use_lm = use_lm;
    cl_rng rng;
    cl_rng_seed(&rng, 11);
    cl_model *m = sentence_tagger(ec, tc, &rng);
    static const char *const forms[] = {"the", "cat", "sat", "on", "a", "mat", ",", "quickly"};
    const char *words[1300];
    for (int i = 0; i < 1300; i++)
        words[i] = forms[(i * 7 + i / 5) % 8];
    cl_tagger_corpus c;
    cl_tagger_corpus_init(&c);
    ck_assert_int_eq(cl_tagger_corpus_add(&c, forms, NULL, 3), 0);
    ck_assert_int_eq(cl_tagger_corpus_add(&c, words, NULL, 1300), 0);
    cl_tagger *t;
    cl_tagger_data *x;
    ck_assert_int_eq(cl_tagger_create(&t, m, NULL), 0);
    ck_assert_int_eq(cl_tagger_data_prepare(&x, t, &c, NULL), 0);
    static int windowed[1303], whole[1303];
    int sents[2] = {0, 1}, one = 1;
    long count;
    ck_assert_int_eq(cl_tagger_predict(t, x, sents, 2, windowed), 0);
    ck_assert(!isnan(cl_tagger_forward(t, x, &one, 1, 0, NULL, &count)));
    cl_tagger_argmax(t, x, &one, 1, whole);
    int same = 0;
    for (int w = 3; w < 1303; w++)
        same += windowed[w] == whole[w];
    ck_assert_msg(same >= 1300 * 99 / 100, "use_lm %d: %d of 1300 tags agree", use_lm, same);
    cl_tagger_data_free(x);
    cl_tagger_free(t);
    cl_tagger_corpus_free(&c);
    cl_model_free(m);
}

START_TEST(test_tag_windows_agree)
{
    windows_agree(0);
    windows_agree(1);
}
END_TEST

/* Options whose activations cannot fit are refused before anything is
 * allocated, with the memory they need (before: accepted, then killed by
 * the kernel at 23.5 GB).  Under ulimit -v, so main fails fast. */
START_TEST(test_train_batch_seq_refused)
{
    char text[512], cmd[2048];
    tiny_corpus(text, sizeof text);
#ifdef __SANITIZE_ADDRESS__
    const char *limit = ""; /* ASan's shadow memory needs the address space */
#else
    const char *limit = "ulimit -v 2000000; ";
#endif
    snprintf(cmd, sizeof cmd, "%s'%s' train --train '%s' -o '%s/big.model' --batch 4096 "
             "--seq 4096 -q 2>&1", limit, CL_TOOL, text, cl_test_tmpdir());
    int rc = cl_test_shell(cmd, out, sizeof out);
    ck_assert_msg(rc == 2 && strstr(out, "--batch 4096 --seq 4096 needs at least") &&
                  strstr(out, " GB"), "%d: %s", rc, out);
}
END_TEST

/* A classifier over a 1 x 128 encoder (random weights) whose file allows
 * the longest texts a model may declare (max_chars = 8192). */
static void long_classifier(const char *path)
{
    static const char *const labels[] = {"neg", "pos"};
    char tmp[600];
    cl_vocab_builder vb;
    cl_vocab v;
    int32_t cps[] = {'a', 'b', 'c', ' '};
    ck_assert_int_eq(cl_vocab_builder_init(&vb), 0);
    cl_vocab_builder_add(&vb, cps, 4);
    ck_assert_int_eq(cl_vocab_build(&v, &vb, 0, 1), 0);
    cl_vocab_builder_free(&vb);
    cl_encoder_config ec = {cl_vocab_size(&v), 64, {CL_CELL_LSTM, 64, 128, 1, 0, 0}};
    cl_text_opts text = cl_text_defaults();
    cl_rng rng;
    cl_rng_seed(&rng, 5);
    cl_model *m;
    ck_assert_int_eq(cl_model_create(&m, &text, &v, &ec, &rng), 0);
    cl_classifier_config *cc;
    ck_assert_int_eq(cl_classifier_config_new(&cc, labels, 2, NULL), 0);
    ck_assert_int_eq(cl_model_add_head(m, &cl_classifier_head_ops, cc, &rng), 0);
    snprintf(tmp, sizeof tmp, "%s.short", path);
    ck_assert_int_eq(cl_model_save(m, tmp, NULL, NULL, NULL), 0);
    cl_model_free(m);
    harden_rewrite(tmp, path, "head.classifier", "max_chars", CL_CLASSIFIER_MAX_CHARS_LIMIT,
                   NULL);
}

/* 16 lines of 8,000 characters are classified within 1 GB of address space
 * (before: one workspace of 32 rows x the longest line, 1.6 GB here). */
START_TEST(test_classify_long_lines_bounded)
{
    SKIP_UNDER_ASAN();
    expect_within_1gb("classify", long_classifier, 16, "abc ", 2000, "-l", 16);
}
END_TEST

/* ---- smaller defects ---------------------------------------------------- */

/* A UTF-8 byte-order mark in front of a file is dropped by every reader
 * (before: part of the first TSV label, a \uFEFF/PUNCT token in tag). */
START_TEST(test_bom_dropped)
{
    static const char tsv[] = "\xEF\xBB\xBFpos\tgood\n";
    static const char conllu[] = "\xEF\xBB\xBF" "1\tcat\tcat\tNOUN\t_\t_\t0\troot\t_\t_\n\n";
    FILE *f = fmemopen((void *)tsv, sizeof tsv - 1, "rb");
    cl_tsv_reader *r = cl_tsv_reader_new(f, "bom.tsv");
    const char *label, *text;
    ck_assert_int_eq(cl_tsv_read(r, &label, NULL, &text, NULL, NULL), 1);
    ck_assert_str_eq(label, "pos");
    cl_tsv_reader_free(r);
    fclose(f);
    f = fmemopen((void *)conllu, sizeof conllu - 1, "rb");
    cl_conllu_reader *cr = cl_conllu_reader_new(f, "bom.conllu");
    cl_conllu_sent *sent = cl_conllu_sent_new();
    cl_diag d = {{0}};
    ck_assert_msg(cl_conllu_read(cr, sent, &d) == 1, "%s", d.msg);
    cl_conllu_sent_free(sent);
    cl_conllu_reader_free(cr);
    fclose(f);
    int32_t *cps;
    size_t n;
    ck_assert_int_eq(cl_text_decode("\xEF\xBB\xBF" "ab", 5, NULL, "bom", &cps, &n, NULL), 0);
    ck_assert(n == 2 && cps[0] == 'a');
    free(cps);
    char model[512], cmd[1024];
    snprintf(model, sizeof model, "%s/three.model", cl_test_tmpdir());
    saved_model(model, sizeof model);
    snprintf(cmd, sizeof cmd, "printf '\\357\\273\\277The cat sat.\\n' | '%s' tag -m '%s'",
             CL_TOOL, model);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    ck_assert_msg(strncmp(out, "The/", 4) == 0, "%s", out);
}
END_TEST

/* Run `charlstm ARGS` (printf-style); its exit status must be rc and its
 * output (stdout and stderr, in out) must contain needle. */
static void expect_run(int rc, const char *needle, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect_run(int rc, const char *needle, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int got = cl_test_run(out, sizeof out, "%s", args);
    ck_assert_msg(got == rc && strstr(out, needle),
                  "charlstm %s: exit %d (want %d), no \"%s\" in: %s", args, got, rc, needle, out);
}

/* info and eval report a stdout that cannot be written (before: exit 0). */
START_TEST(test_full_stdout_fails)
{
    char model[512], text[512];
    saved_model(model, sizeof model);
    tiny_corpus(text, sizeof text);
    expect_run(1, "write error", "info '%s' > /dev/full", model);
    expect_run(1, "write error", "eval -m '%s' --task lm '%s' > /dev/full", model, text);
}
END_TEST

/* Values that can only fail later are refused by the option check, with
 * the accepted range (before: "invalid argument" after loading). */
START_TEST(test_options_refused_up_front)
{
    char model[512], text[512];
    saved_model(model, sizeof model);
    tiny_corpus(text, sizeof text);
    const char *dir = cl_test_tmpdir();
    expect_run(2, "--top-p: must be greater than 0", "generate -m '%s' --top-p 0 -n 3", model);
    expect_run(2, "--lr: must be greater than 0", "train --train '%s' -o '%s/x.model' --lr 0",
               text, dir);
    expect_run(2, "--max-vocab: must be between 2 and 1114112 (or 0)",
               "train --train '%s' -o '%s/x.model' --max-vocab 1", text, dir);
}
END_TEST

/* Invalid UTF-8 in CoNLL-U: file and line in the message, never the raw
 * byte on the terminal (before: "word: invalid UTF-8 at byte 2", and eval
 * printed the byte). */
START_TEST(test_conllu_bad_utf8_located)
{
    char model[512], bad[600];
    saved_model(model, sizeof model);
    snprintf(bad, sizeof bad, "%s/bad.conllu", cl_test_tmpdir());
    static const char text[] = "1\tThe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n"
                               "2\tca\xfft\tcat\tNOUN\t_\t_\t0\troot\t_\t_\n\n";
    cl_test_write(bad, text, sizeof text - 1);
    expect_run(1, "bad.conllu:2: invalid UTF-8 at byte 5", "eval -m '%s' --task tagger '%s'",
               model, bad);
    ck_assert_msg(!strchr(out, '\xff'), "raw byte printed: %s", out);
    expect_run(1, "bad.conllu:2: invalid UTF-8", "train --task tagger --train '%s' -o '%s/t.model'",
               bad, cl_test_tmpdir());
}
END_TEST

/* The unknown-prompt-character warning names each character once; --seed
 * 0 takes the system's entropy and prints the seed, which reproduces the
 * text (before: the clock, two runs in one second alike, seed not shown). */
START_TEST(test_generate_warning_and_seed)
{
    char model[512], seed[64];
    saved_model(model, sizeof model);
    int rc = cl_test_run(out, sizeof out, "generate -m '%s' --prompt 'zzz qz' -n 3 2>&1 >/dev/null",
                         model);
    ck_assert_msg(rc == 0 && strstr(out, "5 prompt characters") &&
                  strstr(out, "'z' (U+007A) 'q' (U+0071)\n"), "%d: %s", rc, out);
    const char *gen = "generate -m '%s' --seed 0 -n 40 2>&1";
    ck_assert_int_eq(cl_test_run(out, sizeof out, gen, model), 0);
    const char *p = strstr(out, "--seed ");
    ck_assert_msg(p && sscanf(p, "--seed %63s", seed) == 1, "%s", out);
    static char first[sizeof out];
    snprintf(first, sizeof first, "%s", out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, gen, model), 0);
    ck_assert_str_ne(first, out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "generate -m '%s' --seed %s -n 40 2>/dev/null",
                                 model, seed), 0);
    ck_assert_msg(strstr(first, out), "--seed %s gave \"%s\", not in \"%s\"", seed, out, first);
}
END_TEST

Suite *suite_harden(void)
{
    Suite *s = suite_create("harden");
    TCase *tc = tcase_create("model file");
    tcase_add_test(tc, test_crafted_sizes_refused_small);
    tcase_add_test(tc, test_nonfinite_load_refused);
    tcase_add_test(tc, test_nonfinite_save_refused);
    tcase_add_test(tc, test_stale_tmp_removed);
    suite_add_tcase(s, tc);
    tc = tcase_create("output");
    tcase_add_test(tc, test_output_not_regular_refused);
    tcase_add_test(tc, test_ckpt_refuses_fifo);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_add_test(tc, test_tag_long_sentence_bounded);
    tcase_add_test(tc, test_tag_windows_agree);
    tcase_add_test(tc, test_train_batch_seq_refused);
    tcase_add_test(tc, test_classify_long_lines_bounded);
    suite_add_tcase(s, tc);
    tc = tcase_create("defects");
    tcase_add_test(tc, test_bom_dropped);
    tcase_add_test(tc, test_full_stdout_fails);
    tcase_add_test(tc, test_options_refused_up_front);
    tcase_add_test(tc, test_conllu_bad_utf8_located);
    tcase_add_test(tc, test_generate_warning_and_seed);
    suite_add_tcase(s, tc);
    return s;
}
