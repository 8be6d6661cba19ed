// llama.cpp's grammar, driven line by line from stdin, for the grammar
// fixtures (scripts/oracle/make-grammar-fixtures.ts builds and runs it). It
// links against the libllama that node-llama-cpp ships and calls the grammar
// functions that library exports (llama-grammar.h of the same commit):
// llama_grammar_init_impl, _apply_impl (the candidate set), _accept_impl
// (lazy triggers included) and _accept_token; plus a greedy loop with a
// context for lazy grammars, which node-llama-cpp cannot build.
//
// Requests (strings hex-encoded, "-" for empty); each answers one line:
//   vocab <path>                 load a model's vocabulary     -> ok <n_vocab>
//   model <path> <n_ctx>         load a model and a context    -> ok <n_vocab>
//   init <gbnf> <root> <use_vocab> <lazy> <n> <pattern>... <m> <token>...
//                                                              -> ok | fail <message>
//   mask                         candidate set of all tokens   -> mask <bitmap>
//   accept <token>               llama_grammar_accept_impl     -> ok | error <message>
//   accept_token <token> <piece> llama_grammar_accept_token    -> ok | error <message>
//   piece <token>                token_to_piece, specials shown -> piece <bytes>
//   complete                     is some stack empty           -> complete 0|1
//   greedy <n> <k> <id>...       argmax under the grammar      -> tokens <id>:<margin>...
//   quit
#include "llama.h"
#include "llama-grammar.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

static std::string unhex(const std::string & h) {
    if (h == "-") return "";
    std::string out;
    for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back((char) std::stoi(h.substr(i, 2), nullptr, 16));
    return out;
}

static std::string hex(const std::string & s) {
    static const char * d = "0123456789abcdef";
    if (s.empty()) return "-";
    std::string out;
    for (unsigned char c : s) {
        out.push_back(d[c >> 4]);
        out.push_back(d[c & 15]);
    }
    return out;
}

int main(int argc, char ** argv) {
    if (argc > 1) ggml_backend_load_all_from_path(argv[1]);
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    llama_backend_init();

    llama_model * model = nullptr;
    llama_context * ctx = nullptr;
    const llama_vocab * vocab = nullptr;
    llama_grammar * grammar = nullptr;
    int n_vocab = 0;

    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string cmd;
        in >> cmd;
        try {
            if (cmd == "quit") {
                break;
            } else if (cmd == "vocab" || cmd == "model") {
                std::string path;
                in >> path;
                llama_model_params mp = llama_model_default_params();
                mp.vocab_only = cmd == "vocab";
                mp.n_gpu_layers = 0;
                if (ctx) llama_free(ctx);
                if (model) llama_model_free(model);
                ctx = nullptr;
                model = llama_model_load_from_file(unhex(path).c_str(), mp);
                if (!model) throw std::runtime_error("cannot load model");
                vocab = llama_model_get_vocab(model);
                n_vocab = llama_vocab_n_tokens(vocab);
                if (cmd == "model") {
                    int n_ctx = 0;
                    in >> n_ctx;
                    llama_context_params cp = llama_context_default_params();
                    cp.n_ctx = n_ctx;
                    cp.n_batch = n_ctx;
                    cp.n_ubatch = n_ctx;
                    cp.n_threads = 2;
                    cp.n_threads_batch = 2;
                    ctx = llama_init_from_model(model, cp);
                    if (!ctx) throw std::runtime_error("cannot create context");
                }
                std::cout << "ok " << n_vocab << std::endl;
            } else if (cmd == "init") {
                std::string gbnf, root;
                int use_vocab = 0, lazy = 0, n = 0, m = 0;
                in >> gbnf >> root >> use_vocab >> lazy >> n;
                std::vector<std::string> patterns(n);
                for (auto & p : patterns) {
                    in >> p;
                    p = unhex(p);
                }
                in >> m;
                std::vector<llama_token> tokens(m);
                for (auto & t : tokens) in >> t;
                std::vector<const char *> pc;
                for (auto & p : patterns) pc.push_back(p.c_str());
                if (grammar) llama_grammar_free_impl(grammar);
                const std::string g = unhex(gbnf);
                const std::string r = unhex(root);
                grammar = llama_grammar_init_impl(use_vocab ? vocab : nullptr, g.c_str(), r.c_str(), lazy != 0, pc.data(), pc.size(),
                                                  tokens.data(), tokens.size());
                std::cout << (grammar ? "ok" : "fail -") << std::endl;
            } else if (!grammar && (cmd == "mask" || cmd == "accept" || cmd == "accept_token" || cmd == "complete" || cmd == "greedy")) {
                throw std::runtime_error("no grammar");
            } else if (cmd == "mask") {
                std::vector<llama_token_data> data(n_vocab);
                for (int i = 0; i < n_vocab; i++) data[i] = { i, 0.0f, 0.0f };
                llama_token_data_array arr = { data.data(), data.size(), -1, false };
                llama_grammar_apply_impl(*grammar, &arr);
                std::string bits((n_vocab + 7) / 8, '\0');
                for (int i = 0; i < n_vocab; i++) {
                    if (data[i].logit != -INFINITY) bits[i >> 3] |= (char) (1 << (i & 7));
                }
                std::cout << "mask " << hex(bits) << std::endl;
            } else if (cmd == "accept") {
                llama_token t;
                in >> t;
                llama_grammar_accept_impl(*grammar, t);
                std::cout << "ok" << std::endl;
            } else if (cmd == "accept_token") {
                llama_token t;
                std::string piece;
                in >> t >> piece;
                llama_grammar_accept_token(*grammar, t, unhex(piece));
                std::cout << "ok" << std::endl;
            } else if (cmd == "piece") {
                llama_token t;
                in >> t;
                char buf[512];
                const int n = llama_token_to_piece(vocab, t, buf, sizeof buf, 0, true);
                if (n < 0) throw std::runtime_error("piece too long");
                std::cout << "piece " << hex(std::string(buf, n)) << std::endl;
            } else if (cmd == "complete") {
                bool complete = false;
                for (const auto & s : llama_grammar_get_stacks(grammar)) complete = complete || s.empty();
                std::cout << "complete " << (complete ? 1 : 0) << std::endl;
            } else if (cmd == "greedy") {
                int n_predict = 0, k = 0;
                in >> n_predict >> k;
                std::vector<llama_token> prompt(k);
                for (auto & t : prompt) in >> t;
                llama_memory_clear(llama_get_memory(ctx), true);
                if (llama_decode(ctx, llama_batch_get_one(prompt.data(), prompt.size()))) throw std::runtime_error("decode failed");
                std::vector<llama_token_data> data(n_vocab);
                std::string out = "tokens";
                for (int step = 0; step < n_predict; step++) {
                    const float * logits = llama_get_logits_ith(ctx, -1);
                    for (int i = 0; i < n_vocab; i++) data[i] = { i, logits[i], 0.0f };
                    llama_token_data_array arr = { data.data(), data.size(), -1, false };
                    llama_grammar_apply_impl(*grammar, &arr);
                    int best = 0;
                    for (int i = 1; i < n_vocab; i++) if (data[i].logit > data[best].logit) best = i;
                    float second = -INFINITY;
                    for (int i = 0; i < n_vocab; i++) if (i != best && data[i].logit > second) second = data[i].logit;
                    llama_token t = data[best].id;
                    // The margin to the runner-up among allowed tokens (inf: the only one).
                    out += " " + std::to_string(t) + ":" + std::to_string(data[best].logit - second);
                    if (llama_vocab_is_eog(vocab, t)) break;
                    llama_grammar_accept_impl(*grammar, t);
                    if (llama_decode(ctx, llama_batch_get_one(&t, 1))) throw std::runtime_error("decode failed");
                }
                std::cout << out << std::endl;
            } else {
                throw std::runtime_error("unknown request " + cmd);
            }
        } catch (const std::exception & e) {
            std::cout << "error " << hex(e.what()) << std::endl;
        }
    }
    if (grammar) llama_grammar_free_impl(grammar);
    if (ctx) llama_free(ctx);
    if (model) llama_model_free(model);
    return 0;
}
