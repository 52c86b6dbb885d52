/* bench/codec_baseline.c: the libraries alone, for bench/derive to compare Strata's codec wrappers with.
 * Reads a raw little-endian 16-bit frame and times CharLS JPEG-LS lossless and OpenJPEG irreversible
 * J2K encodes with the parameters Strata uses (RPCL, one tile-part per resolution, levels down to
 * <= 64 px, rate relative to BitsStored), into memory.
 * Usage: codec_baseline FILE WIDTH HEIGHT BITS_STORED SIGNED REPS RATIO... */
#include <charls/charls.h>
#include <openjpeg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { uint8_t *data; size_t size, capacity, position; } buffer_t;

static OPJ_SIZE_T write_fn(void *src, OPJ_SIZE_T n, void *user) {
    buffer_t *b = user;
    if (b->position + n > b->capacity) {
        b->capacity = (b->position + n) * 2;
        b->data = realloc(b->data, b->capacity);
    }
    memcpy(b->data + b->position, src, n);
    b->position += n;
    if (b->position > b->size) b->size = b->position;
    return n;
}
static OPJ_OFF_T skip_fn(OPJ_OFF_T n, void *user) { buffer_t *b = user; b->position += n; return n; }
static OPJ_BOOL seek_fn(OPJ_OFF_T n, void *user) { buffer_t *b = user; b->position = n; return OPJ_TRUE; }

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static size_t encode_jpegls(const uint16_t *pixels, int w, int h, int bits) {
    size_t count = (size_t)w * h;
    uint16_t *masked = malloc(count * 2);
    for (size_t i = 0; i < count; i++) masked[i] = pixels[i] & ((1u << bits) - 1);
    charls_jpegls_encoder *encoder = charls_jpegls_encoder_create();
    charls_frame_info info = {(uint32_t)w, (uint32_t)h, bits, 1};
    charls_jpegls_encoder_set_frame_info(encoder, &info);
    size_t size = 0, written = 0;
    charls_jpegls_encoder_get_estimated_destination_size(encoder, &size);
    void *out = malloc(size);
    charls_jpegls_encoder_set_destination_buffer(encoder, out, size);
    charls_jpegls_encoder_encode_from_buffer(encoder, masked, count * 2, 0);
    charls_jpegls_encoder_get_bytes_written(encoder, &written);
    charls_jpegls_encoder_destroy(encoder);
    free(out);
    free(masked);
    return written;
}

static size_t encode_j2k(const uint16_t *pixels, int w, int h, int bits, int sgnd, double ratio) {
    opj_image_cmptparm_t cp = {0};
    cp.dx = cp.dy = 1; cp.w = w; cp.h = h; cp.prec = bits; cp.sgnd = sgnd;
    opj_image_t *image = opj_image_create(1, &cp, OPJ_CLRSPC_GRAY);
    image->x0 = image->y0 = 0; image->x1 = w; image->y1 = h;
    for (size_t i = 0; i < (size_t)w * h; i++) image->comps[0].data[i] = sgnd ? (int16_t)pixels[i] : pixels[i];
    opj_cparameters_t p;
    opj_set_default_encoder_parameters(&p);
    int levels = 0, side = w > h ? w : h;
    while (side > 64 && levels < 12) { side = (side + 1) / 2; levels++; }
    p.numresolution = levels + 1;
    p.prog_order = OPJ_RPCL;
    p.tp_on = 1; p.tp_flag = 'R';
    p.irreversible = 1;
    p.tcp_numlayers = 1;
    p.cp_disto_alloc = 1;
    p.tcp_rates[0] = (float)(ratio * bits / 16.0);
    opj_codec_t *codec = opj_create_compress(OPJ_CODEC_J2K);
    opj_setup_encoder(codec, &p, image);
    buffer_t b = {0};
    opj_stream_t *stream = opj_stream_create(1 << 20, OPJ_FALSE);
    opj_stream_set_user_data(stream, &b, NULL);
    opj_stream_set_write_function(stream, write_fn);
    opj_stream_set_skip_function(stream, skip_fn);
    opj_stream_set_seek_function(stream, seek_fn);
    opj_start_compress(codec, image, stream);
    opj_encode(codec, stream);
    opj_end_compress(codec, stream);
    opj_stream_destroy(stream);
    opj_destroy_codec(codec);
    opj_image_destroy(image);
    free(b.data);
    return b.size;
}

int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage: %s FILE W H BITS SIGNED REPS RATIO...\n", argv[0]); return 2; }
    int w = atoi(argv[2]), h = atoi(argv[3]), bits = atoi(argv[4]), sgnd = atoi(argv[5]), reps = atoi(argv[6]);
    uint16_t *pixels = malloc((size_t)w * h * 2);
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(pixels, 2, (size_t)w * h, f) != (size_t)w * h) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    fclose(f);
    double best = 1e99; size_t bytes = 0;
    for (int r = 0; r < reps; r++) { double t = now_ms(); bytes = encode_jpegls(pixels, w, h, bits); t = now_ms() - t; if (t < best) best = t; }
    printf("jpegls %.2f ms %zu bytes\n", best, bytes);
    for (int i = 7; i < argc; i++) {
        double ratio = atof(argv[i]);
        best = 1e99;
        for (int r = 0; r < reps; r++) { double t = now_ms(); bytes = encode_j2k(pixels, w, h, bits, sgnd, ratio); t = now_ms() - t; if (t < best) best = t; }
        printf("j2k:%g %.2f ms %zu bytes\n", ratio, best, bytes);
    }
    free(pixels);
    return 0;
}
