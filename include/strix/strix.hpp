// Umbrella header: everything strix provides. Prefer including the one header you need.
#pragma once

#include <strix/core/bf16.hpp>
#include <strix/core/buffer.hpp>
#include <strix/core/error.hpp>
#include <strix/core/f16.hpp>
#include <strix/core/rounded_product.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/core/thread_pool.hpp>
#include <strix/io/byte_cursor.hpp>
#include <strix/io/gguf_reader.hpp>
#include <strix/io/gguf_value.hpp>
#include <strix/io/gguf_writer.hpp>
#include <strix/io/mapped_file.hpp>
#include <strix/io/safetensors_reader.hpp>
#include <strix/quant/block_format.hpp>
#include <strix/quant/formats.hpp>
#include <strix/quant/ggml_type.hpp>
#include <strix/quant/quantized_view.hpp>
