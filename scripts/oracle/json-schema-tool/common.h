// Stands in for llama.cpp's common/common.h when json-schema-to-grammar.cpp is
// compiled alone: the converter needs only these three string helpers, and
// the real header pulls in the whole of llama.h and ggml.
#pragma once

#include <string>
#include <vector>

std::string string_join(const std::vector<std::string> & values, const std::string & separator);
std::vector<std::string> string_split(const std::string & str, const std::string & delimiter);
std::string string_repeat(const std::string & str, size_t n);
