/* replay.c — runs every file of a corpus directory through LLVMFuzzerTestOneInput once, so the fuzz corpus is a
 * regression suite under ctest with gcc and the sanitizers. Prints "N passed, 0 failed"; a crash fails the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
                return 2;
        }
        DIR *dir = opendir(argv[1]);
        if (!dir) {
                perror(argv[1]);
                return 1;
        }
        int count = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.')
                        continue;
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
                FILE *f = fopen(path, "rb");
                if (!f)
                        continue;
                static uint8_t buf[2 * 1024 * 1024];
                size_t n = fread(buf, 1, sizeof(buf), f);
                fclose(f);
                LLVMFuzzerTestOneInput(buf, n);
                count++;
        }
        closedir(dir);
        if (count == 0) {
                fprintf(stderr, "empty corpus: %s\n", argv[1]);
                return 1;
        }
        printf("%d passed, 0 failed\n", count);
        return 0;
}
