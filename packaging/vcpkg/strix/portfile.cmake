# Overlay port building from this checkout (vcpkg install strix --overlay-ports=packaging/vcpkg).
# Header-only: one release configuration, no binaries.
set(VCPKG_BUILD_TYPE release)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS -DSTRIX_BUILD_TESTS=OFF -DSTRIX_BUILD_EXAMPLES=OFF -DSTRIX_BUILD_BENCH=OFF
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME strix CONFIG_PATH share/cmake/strix)
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/lib" "${CURRENT_PACKAGES_DIR}/debug")
file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright" "strix: the project has not chosen a license yet; see README.md.\n")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
