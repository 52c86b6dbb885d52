#ifndef STRATA_JPEG_H
#define STRATA_JPEG_H

#include <stddef.h>
#include <stdint.h>

/// What `strata_jpeg_decode` found.
typedef enum {
    STRATA_JPEG_OK = 0,
    /// The data is not a (complete) JPEG stream; `message` says what libjpeg objected to.
    STRATA_JPEG_CORRUPT = 1,
    /// A JPEG process or precision this libjpeg cannot decode (12-bit, lossless, ...).
    STRATA_JPEG_UNSUPPORTED = 2,
    /// The stream's size or component count differs from what the caller expects.
    STRATA_JPEG_MISMATCH = 3,
} strata_jpeg_status;

/// How the colour of a 3-component stream is to be read.
typedef enum {
    /// One component: grey levels out.
    STRATA_JPEG_GRAY = 0,
    /// YCbCr whatever the stream's markers say (DICOM YBR_FULL, YBR_FULL_422): RGB out.
    STRATA_JPEG_YCBCR = 1,
    /// As a JFIF or Adobe marker says, else RGB as stored (DICOM RGB): RGB out.
    STRATA_JPEG_RGB = 2,
} strata_jpeg_colour;

/// The stream's header and, on failure, libjpeg's message.
typedef struct {
    int width;
    int height;
    int components;
    int precision;
    char message[200];
} strata_jpeg_info;

/// Decodes an 8-bit DCT-based JPEG stream (baseline, extended, progressive) held in memory into
/// `output`: `width` x `height` pixels, `components` bytes each, interleaved, rows top to bottom.
/// Nothing is written to `output` unless the stream's header matches the expected size and component count
/// and `capacity` holds the image. libjpeg errors, and warnings about corrupt data, end decoding through
/// setjmp/longjmp inside this function: they never exit the process.
strata_jpeg_status strata_jpeg_decode(const uint8_t *data, size_t size, int width, int height, int components,
                                      strata_jpeg_colour colour, uint8_t *output, size_t capacity,
                                      strata_jpeg_info *info);

/// Encodes 8-bit pixels (`components` 1 or 3, interleaved, rows top to bottom) as a baseline JPEG at
/// `quality` (1-100) into a buffer that libjpeg allocates: free it with `free`. Returns STRATA_JPEG_OK, or
/// STRATA_JPEG_CORRUPT with `message` filled when libjpeg fails.
strata_jpeg_status strata_jpeg_encode(const uint8_t *pixels, int width, int height, int components, int quality,
                                      uint8_t **output, unsigned long *size, char message[200]);

#endif
