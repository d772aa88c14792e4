# dsconv - build, test, demo.
#   make            bin/dsconv (+ CUDA kernels when nvcc is found; CUDA=0 for CPU-only)
#   make test       unit + end-to-end tests, ends with "N passed, N failed"
#   make demo       sample FP8 checkpoint -> BF16 -> verify
#   make test-asan  the test suite under ASan+UBSan (CPU build)
#   make test-gpu   builds everything tests/gpu/all.sh runs (CUDA build), then runs it (needs an NVIDIA GPU)
#   DEPS=dir        extra prefix with include/ and lib/ (cJSON, xxhash) for machines without the -dev packages

CC      ?= gcc
NVCC    ?= $(shell command -v nvcc 2>/dev/null || (test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc))
CUDA    ?= $(if $(NVCC),1,0)
BUILD   ?= build
OPT     ?= -O2
SAN     ?=
CFLAGS  ?=
# -ffp-contract=off: no fused multiply-add, so results (and bit-identity claims) do not depend on -march.
CFLAGS  += $(OPT) -g -std=gnu11 -Wall -Wextra -fopenmp -ffp-contract=off -I. $(SAN) -MMD -MP
# -Wvla: an array sized at run time (e.g. by config.json) never goes on the stack, where a hostile size crashes.
CFLAGS  += -Wvla
LDFLAGS += -fopenmp $(SAN)
LDLIBS  += -lcjson -lm -lpthread
ifneq ($(DEPS),)
CFLAGS  += -I$(DEPS)/include
LDFLAGS += -L$(abspath $(DEPS))/lib -Wl,-rpath,$(abspath $(DEPS))/lib
endif
# xxHash is used header-only (XXH_INLINE_ALL in common/hash.c), so no runtime library is needed.

LIB_SRC := $(wildcard common/*.c formats/*.c convert/*.c quant/*.c verify/*.c kernels/cpu/*.c)
CMD_SRC := $(wildcard cmd/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ := $(CMD_SRC:%.c=$(BUILD)/%.o)

ifeq ($(CUDA),1)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CU_SRC  := $(wildcard kernels/cuda/*.cu)
# kernels/cuda/*.c: the CUDA instance of the device table (kernels/device.h), plain C.
CU_OBJ  := $(CU_SRC:%.cu=$(BUILD)/%.o) $(patsubst %.c,$(BUILD)/%.o,$(wildcard kernels/cuda/*.c))
NVFLAGS ?= -O3 -std=c++17 -I. -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_80,code=sm_80 -gencode arch=compute_80,code=compute_80 -Xcompiler -fopenmp,-Wall
CFLAGS  += -DDS_HAVE_CUDA=1
# cudart is linked statically so the binary starts where no CUDA runtime is installed;
# cuBLAS is opened at verify's first GEMM (kernels/cuda/gemm.cu), not linked: linking it
# cost every process 0.1 s of start-up, and the conversions never call it.
LDLIBS  += -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/targets/x86_64-linux/lib -lcudart_static -ldl -lrt -lstdc++
else
CU_OBJ  := $(BUILD)/kernels/cuda_stub.o
endif

TEST_SRC := $(wildcard tests/unit/*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all clean test test-asan test-gpu test-gpu-build need-cuda demo samples bench bench-quick fuzz FORCE
all: bin/dsconv bin/dsconv-sample

# bin/ is shared by every BUILD folder: bin/.linked-from names the build the binaries
# were last linked from, and changes (forcing a relink) when another one is made,
# so `make CUDA=0 BUILD=build-cpu` then `make` never leaves a CPU-only bin/dsconv.
BIN_STAMP := bin/.linked-from
$(BIN_STAMP): FORCE
	@mkdir -p bin
	@echo '$(BUILD) CUDA=$(CUDA)' | cmp -s - $@ || echo '$(BUILD) CUDA=$(CUDA)' > $@
FORCE:

bin/dsconv: $(BUILD)/main.o $(CMD_OBJ) $(BUILD)/libdsconv.a $(BIN_STAMP)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/main.o $(CMD_OBJ) $(BUILD)/libdsconv.a $(LDLIBS)

# dsconv-sample parses its options with the commands' option tables (cmd/parse_options.c, cmd/common.c).
SAMPLE_OBJ := $(BUILD)/samples/sample_main.o $(BUILD)/samples/sample_gen.o $(BUILD)/cmd/parse_options.o $(BUILD)/cmd/common.o
bin/dsconv-sample: $(SAMPLE_OBJ) $(BUILD)/libdsconv.a $(BIN_STAMP)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(BIN_STAMP),$^) $(LDLIBS)

$(BUILD)/libdsconv.a: $(LIB_OBJ) $(CU_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# The GGUF block encoders must not contract a*b+c into one rounding (the bytes are llama.cpp's).
$(BUILD)/kernels/cuda/gguf_quant.o: NVFLAGS += -fmad=false

# The CPU kernels are the hot loops: -O3 lets gcc vectorize them.
$(BUILD)/kernels/cpu/%.o: CFLAGS += -O3
# fp4_rows.c, quant_rows.c, gguf_quant.c and dequant_fp8.c use 32-byte vectors between its own static functions (no ABI crosses a file).
$(BUILD)/kernels/cpu/fp4_rows.o $(BUILD)/kernels/cpu/quant_rows.o $(BUILD)/kernels/cpu/gguf_quant.o $(BUILD)/kernels/cpu/dequant_fp8.o: CFLAGS += -Wno-psabi

$(BUILD)/kernels/cuda_stub.o: kernels/cuda_stub.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# nvcc writes its dependency file as gcc does (-MMD -MP), so touching any header a
# .cu includes (kernels/kernels.h, quant/quant_core.h, ...) rebuilds the CUDA object
# with the CPU one: the two must keep writing the same bytes.
$(BUILD)/kernels/cuda/%.o: kernels/cuda/%.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVFLAGS) -MMD -MP -MF $(@:.o=.d) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdsconv.a $(BUILD)/samples/sample_gen.o tests/unit/test.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/samples/sample_gen.o $(BUILD)/libdsconv.a $(LDFLAGS) $(LDLIBS)

TOOL_BIN := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))
$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libdsconv.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdsconv.a $(LDFLAGS) $(LDLIBS)

tests: $(TEST_BIN) $(TOOL_BIN)

# GPU test programs (tests/gpu/*.c) link the CUDA build; tests/gpu/*.sh run them.
GPU_TEST_BIN := $(patsubst tests/gpu/%.c,$(BUILD)/tests/gpu/%,$(wildcard tests/gpu/*.c))
$(BUILD)/tests/gpu/%: tests/gpu/%.c $(BUILD)/libdsconv.a tests/unit/test.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(CUDA_HOME)/include -o $@ $< $(BUILD)/libdsconv.a $(LDFLAGS) $(LDLIBS)

# Everything tests/gpu/all.sh runs: the binaries, the golden/jsoneq tools, the GPU test programs,
# the unit test whose GPU cases exercise the device table (tests/gpu/device_table.sh).
test-gpu-build: $(if $(filter 1,$(CUDA)),all $(TOOL_BIN) $(GPU_TEST_BIN) $(BUILD)/tests/test_verify_stream,need-cuda)
need-cuda:
	@echo "make test-gpu needs the CUDA build (nvcc not found, or CUDA=0 given)" >&2; exit 2

test-gpu: test-gpu-build
	@BUILD=$(BUILD) DSCONV_GPU_BUILT=1 bash tests/gpu/all.sh

test: all tests
	@bash tests/run.sh $(BUILD)

# Sanitizer build in its own folder; CPU-only so it runs anywhere.
test-asan:
	$(MAKE) BUILD=build-asan CUDA=0 OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" BIN_SUFFIX=-asan test-asan-run
test-asan-run: $(BUILD)/libdsconv.a $(TEST_BIN) $(TOOL_BIN) $(BUILD)/main.o $(CMD_OBJ) $(SAMPLE_OBJ)
	@mkdir -p $(BUILD)/bin
	$(CC) $(LDFLAGS) -o $(BUILD)/bin/dsconv $(BUILD)/main.o $(CMD_OBJ) $(BUILD)/libdsconv.a $(LDLIBS)
	$(CC) $(LDFLAGS) -o $(BUILD)/bin/dsconv-sample $(SAMPLE_OBJ) $(BUILD)/libdsconv.a $(LDLIBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86 DSCONV_SANITIZED=1 DSCONV_BIN=$(BUILD)/bin bash tests/run.sh $(BUILD)

samples: bin/dsconv-sample
	bin/dsconv-sample --out samples/out/tiny-fp8

demo: all
	@bash samples/demo.sh

bench: all
	@bash bench/bench.sh --size-gb $(or $(SIZE_GB),8)

bench-quick: all
	@bash bench/bench-quick.sh

# One conversion as 1, 2, 4, 8 parts at once on this host (--part I/N + finish) against the whole run.
.PHONY: bench-parts
bench-parts: all
	@bash bench/bench-parts.sh --size-gb $(or $(SIZE_GB),8)

# libFuzzer harnesses of the parsers (clang + libclang-rt-dev); FUZZ_SECONDS each, one after another.
FUZZ_SECONDS ?= 600
fuzz:
	bash fuzz/fuzz.sh all $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) build-asan bin samples/out

# Dependency files of gcc and nvcc alike (-MMD -MP above).
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
