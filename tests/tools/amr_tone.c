/*
 * Writes the AMR-NB test fixture tests/fixtures/voice.amr: a 440 Hz tone
 * with a 50 ms fade-in, a slow 2 Hz swell and a 200 ms fade-out, encoded
 * with libopencore-amrnb's encoder in mode MR122 (12.2 kbit/s, 32 bytes a
 * frame), no DTX. Not part of the build; to regenerate the fixture:
 *   cc -O2 -o /tmp/amr_tone tests/tools/amr_tone.c -lopencore-amrnb -lm
 *   /tmp/amr_tone tests/fixtures/voice.amr [seconds]
 * The output is deterministic for one library version.
 */
#include <math.h>
#include <opencore-amrnb/interf_enc.h>
#include <stdio.h>
#include <stdlib.h>

#define RATE 8000
#define FRAME 160

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s OUT.amr [seconds, default 2]\n", argv[0]);
        return 2;
    }
    double seconds = argc == 3 ? atof(argv[2]) : 2.0;
    int frames = (int)(seconds * RATE / FRAME + 0.5);
    if (frames < 1 || frames > 30000) {
        fprintf(stderr, "amr_tone: seconds must be 0.02 to 600\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "wb");
    void *enc = Encoder_Interface_init(0);
    if (!f || !enc) {
        perror(argv[1]);
        return 1;
    }
    fwrite("#!AMR\n", 1, 6, f);

    const double pi = 3.14159265358979323846;
    int total = frames * FRAME;
    for (int i = 0; i < frames; i++) {
        short pcm[FRAME];
        unsigned char out[64];
        for (int j = 0; j < FRAME; j++) {
            int n = i * FRAME + j;
            double t = (double)n / RATE;
            double env = 0.75 + 0.25 * sin(2 * pi * 2 * t);
            if (n < RATE / 20)
                env *= (double)n / (RATE / 20);
            if (total - n < RATE / 5)
                env *= (double)(total - n) / (RATE / 5);
            pcm[j] = (short)lrint(12000.0 * env * sin(2 * pi * 440 * t));
        }
        int len = Encoder_Interface_Encode(enc, MR122, pcm, out, 0);
        if (len <= 0 || fwrite(out, 1, (size_t)len, f) != (size_t)len) {
            fprintf(stderr, "amr_tone: encoding frame %d failed\n", i);
            return 1;
        }
    }
    Encoder_Interface_exit(enc);
    return fclose(f) == 0 ? 0 : 1;
}
