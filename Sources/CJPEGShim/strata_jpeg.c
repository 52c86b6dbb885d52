// Error handling around libjpeg that Swift cannot express: libjpeg reports fatal errors by calling
// error_exit, which must not return, so this file longjmps back to strata_jpeg_decode.

#include "strata_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/// Progressive streams may hold many scans; more than this is taken as an attack on decoding time.
#define STRATA_JPEG_MAX_SCANS 1000

typedef struct {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    strata_jpeg_status status;
    strata_jpeg_info *info;
} strata_error;

static void strata_record(j_common_ptr cinfo, strata_jpeg_status status) {
    strata_error *error = (strata_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(error->info->message, sizeof error->info->message, "%s", text);
    error->status = status;
}

static void strata_error_exit(j_common_ptr cinfo) {
    strata_error *error = (strata_error *)cinfo->err;
    switch (cinfo->err->msg_code) {
    case JERR_BAD_PRECISION:
    case JERR_SOF_UNSUPPORTED:
    case JERR_NOT_COMPILED:
    case JERR_ARITH_NOTIMPL:
    case JERR_CCIR601_NOTIMPL:
    case JERR_FRACT_SAMPLE_NOTIMPL:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_NOTIMPL:
        strata_record(cinfo, STRATA_JPEG_UNSUPPORTED);
        break;
    default:
        strata_record(cinfo, STRATA_JPEG_CORRUPT);
    }
    longjmp(error->jump, 1);
}

/// Warnings (level -1) that mean pixels were lost or made up are errors here; others are ignored.
static void strata_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
        strata_error_exit(cinfo);
        break;
    default:
        break;
    }
}

static void strata_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > STRATA_JPEG_MAX_SCANS) {
        strata_error *error = (strata_error *)cinfo->err;
        snprintf(error->info->message, sizeof error->info->message, "more than %d scans", STRATA_JPEG_MAX_SCANS);
        error->status = STRATA_JPEG_CORRUPT;
        longjmp(error->jump, 1);
    }
}

strata_jpeg_status strata_jpeg_decode(const uint8_t *data, size_t size, int width, int height, int components,
                                      strata_jpeg_colour colour, uint8_t *output, size_t capacity,
                                      strata_jpeg_info *info) {
    struct jpeg_decompress_struct cinfo;
    strata_error error;
    struct jpeg_progress_mgr progress;
    memset(info, 0, sizeof *info);
    memset(&cinfo, 0, sizeof cinfo);
    memset(&progress, 0, sizeof progress);
    if (size == 0 || size > (size_t)0xFFFFFFFFu) {
        snprintf(info->message, sizeof info->message, "%zu bytes of JPEG data", size);
        return STRATA_JPEG_CORRUPT;
    }

    cinfo.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = strata_error_exit;
    error.manager.emit_message = strata_emit_message;
    error.status = STRATA_JPEG_OK;
    error.info = info;
    progress.progress_monitor = strata_progress;
    if (setjmp(error.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return error.status;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    info->width = (int)cinfo.image_width;
    info->height = (int)cinfo.image_height;
    info->components = cinfo.num_components;
    info->precision = cinfo.data_precision;

    if ((int)cinfo.image_width != width || (int)cinfo.image_height != height || cinfo.num_components != components) {
        jpeg_destroy_decompress(&cinfo);
        return STRATA_JPEG_MISMATCH;
    }
    if (components == 1) {
        cinfo.out_color_space = JCS_GRAYSCALE;
    } else if (components == 3) {
        if (colour == STRATA_JPEG_YCBCR) {
            cinfo.jpeg_color_space = JCS_YCbCr;
        } else if (!cinfo.saw_JFIF_marker && !cinfo.saw_Adobe_marker) {
            cinfo.jpeg_color_space = JCS_RGB;
        }
        cinfo.out_color_space = JCS_RGB;
    } else {
        jpeg_destroy_decompress(&cinfo);
        return STRATA_JPEG_MISMATCH;
    }

    jpeg_start_decompress(&cinfo);
    size_t row = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    if ((int)cinfo.output_width != width || (int)cinfo.output_height != height || cinfo.output_components != components ||
        row * cinfo.output_height > capacity) {
        snprintf(info->message, sizeof info->message, "libjpeg would write %ux%ux%d samples",
                 cinfo.output_width, cinfo.output_height, cinfo.output_components);
        jpeg_destroy_decompress(&cinfo);
        return STRATA_JPEG_MISMATCH;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW target = output + (size_t)cinfo.output_scanline * row;
        if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
            snprintf(info->message, sizeof info->message, "no scanline %u", cinfo.output_scanline);
            jpeg_destroy_decompress(&cinfo);
            return STRATA_JPEG_CORRUPT;
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return STRATA_JPEG_OK;
}

typedef struct {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char *message;
} strata_encode_error;

static void strata_encode_error_exit(j_common_ptr cinfo) {
    strata_encode_error *error = (strata_encode_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(error->message, 200, "%s", text);
    longjmp(error->jump, 1);
}

strata_jpeg_status strata_jpeg_encode(const uint8_t *pixels, int width, int height, int components, int quality,
                                      uint8_t **output, unsigned long *size, char message[200]) {
    struct jpeg_compress_struct cinfo;
    strata_encode_error error;
    *output = NULL;
    *size = 0;
    message[0] = 0;
    cinfo.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = strata_encode_error_exit;
    error.message = message;
    if (setjmp(error.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(*output);
        *output = NULL;
        return STRATA_JPEG_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, output, size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * width * components);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return STRATA_JPEG_OK;
}
