#!/usr/bin/env bash
# Writes the benchmark's C program into DIR: N modules of M functions each
# (deterministic, so every run compiles the same code), a main and a Makefile.
# Usage: gen-app.sh DIR [N] [M]
set -euo pipefail
dir=$1 n=${2:-48} m=${3:-60}
mkdir -p "$dir/src"
cp "$(dirname "$0")/Dockerfile" "$dir/Dockerfile"
printf '.git\n*.o\nbench-app\n' > "$dir/.dockerignore"
cat > "$dir/Makefile" <<'MAKE'
CFLAGS ?= -O2 -Wall
SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:.c=.o)
bench-app: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $(OBJS) -lm
%.o: %.c src/modules.h
	$(CC) $(CFLAGS) -c -o $@ $<
MAKE
{
  echo '#include <stdint.h>'
  for ((i = 0; i < n; i++)); do echo "uint64_t module_${i}(uint64_t x);"; done
} > "$dir/src/modules.h"
for ((i = 0; i < n; i++)); do
  {
    echo '#include <math.h>'
    echo '#include "modules.h"'
    for ((j = 0; j < m; j++)); do
      cat <<C
static uint64_t f_${i}_${j}(uint64_t x) {
	uint64_t h = x ^ ${i}u ^ (${j}u << 7);
	for (int k = 0; k < 16; k++) {
		h ^= h >> 33; h *= 0xff51afd7ed558ccdULL; h ^= h >> 33;
		h += (uint64_t)(sqrt((double)(k + ${j})) * 1000.0);
	}
	return h;
}
C
    done
    echo "uint64_t module_${i}(uint64_t x) {"
    echo '	uint64_t acc = x;'
    for ((j = 0; j < m; j++)); do echo "	acc = f_${i}_${j}(acc);"; done
    echo '	return acc;'
    echo '}'
  } > "$dir/src/module_$i.c"
done
{
  echo '#include <stdio.h>'
  echo '#include <string.h>'
  echo '#include "modules.h"'
  echo 'int main(int argc, char **argv) {'
  echo '	uint64_t acc = 42;'
  for ((i = 0; i < n; i++)); do echo "	acc = module_${i}(acc);"; done
  echo '	if (argc > 1 && strcmp(argv[1], "--self-test") == 0) { printf("self-test %llx\n", (unsigned long long)acc); return acc == 0; }'
  echo '	printf("%llx\n", (unsigned long long)acc);'
  echo '	return 0;'
  echo '}'
} > "$dir/src/main.c"
