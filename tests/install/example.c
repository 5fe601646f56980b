/* docs/api.md's example: quantize a GGUF model with a preset and an imatrix, then read back its bpw.
 * Usage: example MODEL.gguf IMATRIX OUT.gguf PRESET */
#include <qtk.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL.gguf IMATRIX OUT.gguf PRESET\n", argv[0]);
        return 2;
    }
    qtk_error err = {QTK_OK, ""};
    qtk_gguf *in = NULL, *out = NULL;
    qtk_imatrix *im = NULL;
    qtk_recipe *recipe = NULL;
    qtk_plan *plan = NULL;
    qtk_quantize_params p;
    qtk_quantize_params_init(&p);
    p.nthreads = 2;
    if (qtk_gguf_open(argv[1], &in, &err) == QTK_OK && qtk_imatrix_load(argv[2], &im, &err) == QTK_OK &&
        qtk_recipe_from_preset(argv[4], NULL, &recipe, &err) == QTK_OK &&
        qtk_plan_make(in, recipe, im, false, &plan, &err) == QTK_OK) {
        p.imatrix = im, p.imatrix_path = argv[2], p.recipe = recipe;
        if (qtk_quantize_model(in, plan, argv[3], &p, &err) == QTK_OK && qtk_gguf_open(argv[3], &out, &err) == QTK_OK) {
            uint64_t bytes = 0; /* bits per weight: tensor data over weights, as `qtk inspect` */
            int64_t weights = 0;
            for (int64_t i = 0; i < qtk_gguf_n_tensors(out); i++) {
                bytes += qtk_gguf_tensor(out, i)->nbytes;
                weights += qtk_tensor_nelements(qtk_gguf_tensor(out, i));
            }
            printf("qtk %s: %s, %lld of %lld tensors quantized, %.4f bpw\n", qtk_version(), argv[4],
                   (long long)plan->n_quantized, (long long)plan->n, 8.0 * (double)bytes / (double)weights);
        }
    }
    if (err.code != QTK_OK) fprintf(stderr, "error: %s\n", err.msg);
    qtk_gguf_close(out), qtk_plan_free(plan), qtk_recipe_free(recipe), qtk_imatrix_free(im), qtk_gguf_close(in);
    return err.code == QTK_OK ? 0 : 1;
}
