// The native command-line driver of the engine, used for sanitizer runs and
// native speed figures. It speaks only the C API, with the same commands
// and JSON output as the `hob` CLI (which runs the wasm build):
//   hob tokenize --model M --text T
//   hob complete --model M --prompt P [--n-predict N] [--ctx-size C] [--threads T]
// (greedy)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../api.h"

namespace {

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "hob: %s\n", msg.c_str());
    std::exit(1);
}

void check(hob_status s, const char* what) {
    if (s != HOB_OK) die(std::string(what) + ": " + hob_last_error());
}

std::string json_string(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    o += b;
                } else {
                    o += (char)c;
                }
        }
    }
    return o + "\"";
}

std::string json_ids(const std::vector<int32_t>& ids) {
    std::string o = "[";
    for (size_t i = 0; i < ids.size(); i++) o += (i ? "," : "") + std::to_string(ids[i]);
    return o + "]";
}

hob_model* load_model(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) die("cannot open model file " + path);
    std::fseek(f, 0, SEEK_END);
    const long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    uint8_t* data = static_cast<uint8_t*>(hob_alloc((size_t)size));
    if (!data || std::fread(data, 1, (size_t)size, f) != (size_t)size) die("cannot read model file " + path);
    std::fclose(f);
    hob_model* model = nullptr;
    check(hob_model_load(data, (size_t)size, 1, &model), "cannot load model");
    return model;
}

std::vector<int32_t> tokenize(hob_model* model, const std::string& text, bool add_special) {
    size_t n = 0;
    std::vector<int32_t> ids(text.size() + 8);
    hob_status s = hob_tokenize(model, text.data(), text.size(), add_special, 1, ids.data(), ids.size(), &n);
    if (s == HOB_ERR_BUFFER_TOO_SMALL) {
        ids.resize(n);
        s = hob_tokenize(model, text.data(), text.size(), add_special, 1, ids.data(), ids.size(), &n);
    }
    check(s, "tokenize failed");
    ids.resize(n);
    return ids;
}

std::string piece(hob_model* model, int32_t id) {
    char buf[256];
    size_t len = 0;
    check(hob_token_to_piece(model, id, 0, buf, sizeof buf, &len), "detokenize failed");
    return std::string(buf, len);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) die("usage: hob <tokenize|complete> --model M ...");
    const std::string cmd = argv[1];
    std::map<std::string, std::string> opt;
    for (int i = 2; i < argc; i++) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0) die("unexpected argument " + k);
        if (k == "--json") {
            opt[k] = "1";
            continue;
        }
        if (i + 1 >= argc) die("missing value for " + k);
        opt[k] = argv[++i];
    }
    auto get = [&](const char* k, const std::string& def) { return opt.count(k) ? opt[k] : def; };
    if (!opt.count("--model")) die("--model is required");
    hob_model* model = load_model(opt["--model"]);

    if (cmd == "tokenize") {
        std::printf("{\"ids\":%s}\n", json_ids(tokenize(model, get("--text", ""), true)).c_str());
    } else if (cmd == "complete") {
        const int n_predict = std::atoi(get("--n-predict", "32").c_str());
        check(hob_init(std::atoi(get("--threads", "1").c_str())), "bad --threads");
        hob_session* session = nullptr;
        check(hob_session_create(model, std::atoi(get("--ctx-size", "0").c_str()), 0,
                                 &session),
              "cannot create session");
        const int32_t n_vocab = hob_model_n_vocab(model);
        std::vector<float> logits((size_t)n_vocab);
        // Greedy: the first of the largest logits. Sampling with other
        // settings belongs to the TypeScript sampler chain (src/sampling).
        auto argmax = [&]() {
            check(hob_session_logits(session, logits.data(), logits.size()), "no logits");
            int32_t best = 0;
            for (int32_t i = 1; i < n_vocab; i++) {
                if (logits[(size_t)i] > logits[(size_t)best]) best = i;
            }
            return best;
        };

        const std::vector<int32_t> prompt = tokenize(model, get("--prompt", ""), true);
        if (prompt.empty()) die("the prompt has no tokens");
        auto t0 = std::chrono::steady_clock::now();
        check(hob_session_eval(session, prompt.data(), prompt.size()), "prompt evaluation failed");
        const double prefill_ms = ms_since(t0);

        std::vector<int32_t> out;
        std::string text;
        t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < n_predict; i++) {
            int32_t tok = argmax();
            out.push_back(tok);
            text += piece(model, tok);
            if (i + 1 < n_predict) check(hob_session_eval(session, &tok, 1), "evaluation failed");
        }
        const double decode_ms = ms_since(t0);
        // The last sampled token is not evaluated, so n_predict - 1 steps were timed.
        const int decode_steps = n_predict > 1 ? n_predict - 1 : 0;
        std::printf(
            "{\"promptIds\":%s,\"ids\":%s,\"text\":%s,\"timings\":{\"prefillTokens\":%zu,\"prefillMs\":%.3f,"
            "\"prefillTokensPerSecond\":%.2f,\"decodeTokens\":%d,\"decodeMs\":%.3f,\"decodeTokensPerSecond\":%.2f},"
            "\"threads\":%d,\"backend\":\"native\"}\n",
            json_ids(prompt).c_str(), json_ids(out).c_str(), json_string(text).c_str(), prompt.size(), prefill_ms,
            prompt.size() / (prefill_ms / 1000.0), decode_steps, decode_ms,
            decode_steps > 0 ? decode_steps / (decode_ms / 1000.0) : 0.0, hob_session_n_threads(session));
        hob_session_free(session);
    } else {
        die("unknown command " + cmd);
    }
    hob_model_free(model);
    return 0;
}
