"""Conan 2 recipe for strix, a header-only package: `conan create .` then require strix/0.1.0."""
import os

from conan import ConanFile
from conan.tools.files import copy


class StrixConan(ConanFile):
    name = "strix"
    version = "0.1.0"
    description = "Header-only C++20 building blocks for LLM inference"
    topics = ("llm", "inference", "gguf", "quantization", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    exports_sources = "include/*"
    no_copy_source = True

    def requirements(self):
        self.requires("eigen/3.4.0")
        self.requires("xsimd/8.1.0")
        self.requires("range-v3/0.12.0")
        self.requires("nlohmann_json/3.11.2")
        self.requires("icu/74.2")

    def package_id(self):
        self.info.clear()

    def package(self):
        copy(self, "*.hpp", src=os.path.join(self.source_folder, "include"),
             dst=os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.set_property("cmake_file_name", "strix")
        self.cpp_info.set_property("cmake_target_name", "strix::strix")
        self.cpp_info.requires = ["eigen::eigen", "xsimd::xsimd", "range-v3::range-v3", "nlohmann_json::nlohmann_json", "icu::icu-uc"]
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
