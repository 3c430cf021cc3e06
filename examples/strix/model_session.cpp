// The sessions of every policy in this build, instantiated once (model_session.hpp declares them
// extern for the commands).
#include "model_session.hpp"

namespace strix::tool {

template std::unique_ptr<model_session<reference>> open_session<reference>(const model_spec&, const run_options&, std::size_t, std::size_t);
#if STRIX_TOOL_ZEN5
template std::unique_ptr<model_session<zen5>> open_session<zen5>(const model_spec&, const run_options&, std::size_t, std::size_t);
#endif
#if STRIX_TOOL_HIP
template std::unique_ptr<model_session<hip_device>> open_session<hip_device>(const model_spec&, const run_options&, std::size_t, std::size_t);
#endif

}  // namespace strix::tool
