// json-schema-to-grammar: reads one JSON schema on stdin and prints the GBNF
// grammar llama.cpp's converter (common/json-schema-to-grammar.cpp, the one
// llama-server uses) makes from it. Exit status 0 with the grammar on stdout;
// 1 with llama.cpp's error message on stderr when the converter refuses the
// schema; 2 when stdin is not JSON. Warnings the converter prints for
// degraded patterns go to stderr with status 0, as in llama.cpp.
//   json-schema-to-grammar < schema.json
// With --tools, stdin is a JSON array of [name, schema] pairs, composed the
// way llama.cpp's tool-call grammars use the builder: each schema's refs
// resolved and the schema added under its name, then a root rule that is
// the alternation of the names add_schema returned.
//   json-schema-to-grammar --tools < tools.json
#include "json-schema-to-grammar.h"
#include "common.h"

#include <cstdio>
#include <exception>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

// The three helpers of llama.cpp's common.cpp the converter calls, written
// from their documented behaviour.
std::string string_join(const std::vector<std::string> & values, const std::string & separator) {
    std::string out;
    for (size_t i = 0; i < values.size(); i++) {
        if (i > 0) {
            out += separator;
        }
        out += values[i];
    }
    return out;
}

std::vector<std::string> string_split(const std::string & str, const std::string & delimiter) {
    std::vector<std::string> parts;
    size_t from = 0;
    for (size_t at = str.find(delimiter); at != std::string::npos; at = str.find(delimiter, from)) {
        parts.push_back(str.substr(from, at - from));
        from = at + delimiter.size();
    }
    parts.push_back(str.substr(from));
    return parts;
}

std::string string_repeat(const std::string & str, size_t n) {
    std::string out;
    out.reserve(str.size() * n);
    while (n-- > 0) {
        out += str;
    }
    return out;
}

static std::string tools_grammar(const common_json & tools) {
    return build_grammar([&](const common_grammar_builder & builder) {
        std::vector<std::string> names;
        for (const auto & tool : tools) {
            auto schema = tool.at(1);
            builder.resolve_refs(schema);
            names.push_back(builder.add_schema(tool.at(0).get<std::string>(), schema));
        }
        builder.add_rule("root", string_join(names, " | "));
    });
}

int main(int argc, char ** argv) {
    const bool tools = argc > 1 && std::string(argv[1]) == "--tools";
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    common_json schema;
    try {
        schema = common_json::parse(text);
    } catch (const std::exception & e) {
        std::fprintf(stderr, "not JSON: %s\n", e.what());
        return 2;
    }
    try {
        std::string grammar = tools ? tools_grammar(schema) : json_schema_to_grammar(schema, /* force_gbnf= */ true);
        std::fwrite(grammar.data(), 1, grammar.size(), stdout);
        return 0;
    } catch (const std::exception & e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
