// The vision oracle of scripts/oracle/make-vision-fixtures.ts: runs
// llama.cpp's libmtmd on a text model, an mmproj file and one binary PPM (P6)
// image, and reports what llama.cpp does with the image:
//   - the chunk layout of the prompt (text token ids, image chunks and their
//     token counts), on stdout as JSON;
//   - each image chunk's embeddings (mtmd_encode_chunk + mtmd_get_output_embd),
//     float32 little-endian rows in chunk order, into EMBD_OUT;
//   - the ten best logits after the prompt, and the greedy tokens after it
//     (argmax of the logits; stops early at an end-of-generation token), in
//     the JSON.
//   - the wall time of each image chunk's encode (mtmd_encode_chunk, 2
//     threads), "encodeMs" in the JSON, and the CPU time of the process
//     (every thread, user + system) meanwhile, "encodeCpuMs": bench/vision.ts
//     reads them.
// Built by scripts/oracle/build-mtmd.sh against the same libmtmd/libllama as
// llama-mtmd-cli.
//   mtmd-oracle MODEL MMPROJ IMAGE.ppm PROMPT N_PREDICT EMBD_OUT
// PROMPT holds mtmd's media marker where the image goes. N_PREDICT = -R < 0
// encodes only, each image chunk R times (no evaluation, no logits or
// greedy tokens): the benchmark's mode. MTMD_ORACLE_FLASH_ATTN=auto lets the encoder use flash attention
// (llama-mtmd-cli's default); the fixtures keep it off. MTMD_ORACLE_GPU=1
// loads ggml's backends (a build with them as loadable libraries, such as
// scripts/oracle/build-mtmd-vulkan.sh makes) and runs the encoder on the
// GPU, each image chunk encoded once untimed first (pipeline compiles).
#include "ggml-backend.h"
#include "llama.h"
#include "mtmd.h"
#include "mtmd-helper.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sys/resource.h>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string & why) {
    std::fprintf(stderr, "mtmd-oracle: %s\n", why.c_str());
    std::exit(1);
}

// Binary PPM (P6, maxval 255) without comments: what the fixture script writes.
std::vector<unsigned char> read_ppm(const char * path, int & nx, int & ny) {
    std::ifstream f(path, std::ios::binary);
    if (!f) die(std::string("cannot open ") + path);
    std::string magic;
    int maxval = 0;
    f >> magic >> nx >> ny >> maxval;
    if (magic != "P6" || nx <= 0 || ny <= 0 || maxval != 255) die(std::string("not a P6/255 PPM: ") + path);
    f.get(); // the single whitespace byte before the pixels
    std::vector<unsigned char> rgb(size_t(nx) * size_t(ny) * 3);
    f.read(reinterpret_cast<char *>(rgb.data()), std::streamsize(rgb.size()));
    if (!f) die(std::string("short PPM: ") + path);
    return rgb;
}

// User + system time of every thread of this process, in ms.
double cpu_ms() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

void quiet_log(ggml_log_level level, const char * text, void *) {
    if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

} // namespace

int main(int argc, char ** argv) {
    if (argc != 7) die("usage: mtmd-oracle MODEL MMPROJ IMAGE.ppm PROMPT N_PREDICT EMBD_OUT");
    const char * model_path = argv[1];
    const char * mmproj_path = argv[2];
    const char * image_path = argv[3];
    const std::string prompt = argv[4];
    const int n_predict = std::atoi(argv[5]);
    const char * embd_out = argv[6];

    llama_log_set(quiet_log, nullptr);
    mtmd_helper_log_set(quiet_log, nullptr);
    const char * gpu_env = std::getenv("MTMD_ORACLE_GPU");
    const bool gpu = gpu_env && std::string(gpu_env) == "1";
    if (gpu) ggml_backend_load_all();
    llama_backend_init();

    llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(model_path, mparams);
    if (!model) die("cannot load the text model");

    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = 1024;
    cparams.n_batch = 1024;
    cparams.n_ubatch = 1024;
    cparams.n_threads = 2;
    cparams.n_threads_batch = 2;
    cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    llama_context * lctx = llama_init_from_model(model, cparams);
    if (!lctx) die("cannot create the llama context");

    mtmd_context_params vparams = mtmd_context_params_default();
    vparams.use_gpu = gpu;
    vparams.print_timings = false;
    vparams.n_threads = 2;
    vparams.warmup = false;
    // Flash attention would round K and V to f16 inside the encoder: the
    // fixtures hold the f32 reference.
    vparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    const char * fa = std::getenv("MTMD_ORACLE_FLASH_ATTN");
    if (fa && std::string(fa) == "auto") vparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO;
    mtmd_context * mctx = mtmd_init_from_file(mmproj_path, model, vparams);
    if (!mctx) die("cannot load the projector");

    int nx = 0, ny = 0;
    std::vector<unsigned char> rgb = read_ppm(image_path, nx, ny);
    mtmd_bitmap * bitmap = mtmd_bitmap_init(uint32_t(nx), uint32_t(ny), rgb.data());

    mtmd_input_text text = { prompt.c_str(), prompt.size(), /* add_special */ true, /* parse_special */ true };
    mtmd_input_chunks * chunks = mtmd_input_chunks_init();
    const mtmd_bitmap * bitmaps[] = { bitmap };
    if (mtmd_tokenize(mctx, chunks, &text, bitmaps, 1) != 0) die("mtmd_tokenize failed");

    const int n_embd = llama_model_n_embd_inp(model);
    std::FILE * fe = std::fopen(embd_out, "wb");
    if (!fe) die(std::string("cannot write ") + embd_out);

    std::string json = "{\"nEmbd\":" + std::to_string(n_embd) + ",\"image\":[" + std::to_string(nx) + "," +
                       std::to_string(ny) + "],\"chunks\":[";
    std::string encode_ms, encode_cpu_ms;
    const size_t n_chunks = mtmd_input_chunks_size(chunks);
    for (size_t i = 0; i < n_chunks; i++) {
        const mtmd_input_chunk * chunk = mtmd_input_chunks_get(chunks, i);
        if (i) json += ",";
        if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_TEXT) {
            size_t n = 0;
            const llama_token * toks = mtmd_input_chunk_get_tokens_text(chunk, &n);
            json += "{\"type\":\"text\",\"tokens\":[";
            for (size_t t = 0; t < n; t++) json += (t ? "," : "") + std::to_string(toks[t]);
            json += "]}";
        } else {
            const size_t n = mtmd_input_chunk_get_n_tokens(chunk);
            if (gpu && n_predict < 0 && mtmd_encode_chunk(mctx, chunk) != 0) die("mtmd_encode_chunk failed");
            for (int rep = 0; rep < std::max(1, -n_predict); rep++) {
                const auto t0 = std::chrono::steady_clock::now();
                const double c0 = cpu_ms();
                if (mtmd_encode_chunk(mctx, chunk) != 0) die("mtmd_encode_chunk failed");
                const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
                encode_ms += (encode_ms.empty() ? "" : ",") + std::to_string(ms);
                encode_cpu_ms += (encode_cpu_ms.empty() ? "" : ",") + std::to_string(cpu_ms() - c0);
            }
            const float * embd = mtmd_get_output_embd(mctx);
            std::fwrite(embd, sizeof(float), n * size_t(n_embd), fe);
            json += "{\"type\":\"image\",\"nTokens\":" + std::to_string(n) + "}";
        }
    }
    std::fclose(fe);
    json += "],\"encodeMs\":[" + encode_ms + "],\"encodeCpuMs\":[" + encode_cpu_ms + "]";
    if (n_predict < 0) {
        std::puts((json + "}").c_str());
        // With node-llama-cpp's prebuilt libraries under libmtmd, freeing
        // the contexts at exit aborts (a double free in their teardown):
        // the result is out, so leave without it.
        if (gpu) {
            std::fflush(stdout);
            std::_Exit(0);
        }
        mtmd_input_chunks_free(chunks);
        mtmd_bitmap_free(bitmap);
        mtmd_free(mctx);
        llama_free(lctx);
        llama_model_free(model);
        llama_backend_free();
        return 0;
    }
    json += ",\"top\":";

    llama_pos n_past = 0;
    if (mtmd_helper_eval_chunks(mctx, lctx, chunks, 0, 0, int32_t(cparams.n_batch), true, &n_past) != 0) {
        die("mtmd_helper_eval_chunks failed");
    }
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    // The first step's ten best logits: a check of the rows and their
    // positions finer than the argmax.
    {
        const float * logits = llama_get_logits_ith(lctx, -1);
        std::vector<llama_token> ids(size_t(llama_vocab_n_tokens(llama_model_get_vocab(model))));
        for (size_t t = 0; t < ids.size(); t++) ids[t] = llama_token(t);
        std::partial_sort(ids.begin(), ids.begin() + 10, ids.end(),
                          [&](llama_token a, llama_token b) { return logits[a] > logits[b]; });
        json += "[";
        for (int i = 0; i < 10; i++) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%s[%d,%.6g]", i ? "," : "", ids[size_t(i)], double(logits[ids[size_t(i)]]));
            json += buf;
        }
        json += "],\"greedy\":[";
    }
    for (int step = 0; step < n_predict; step++) {
        const float * logits = llama_get_logits_ith(lctx, -1);
        llama_token best = 0;
        for (llama_token t = 1; t < n_vocab; t++) {
            if (logits[t] > logits[best]) best = t;
        }
        json += (step ? "," : "") + std::to_string(best);
        if (llama_vocab_is_eog(vocab, best)) break;
        llama_batch batch = llama_batch_get_one(&best, 1);
        if (llama_decode(lctx, batch) != 0) die("llama_decode failed");
        n_past++;
    }
    json += "],\"nPast\":" + std::to_string(n_past) + "}";
    std::puts(json.c_str());

    mtmd_input_chunks_free(chunks);
    mtmd_bitmap_free(bitmap);
    mtmd_free(mctx);
    llama_free(lctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
