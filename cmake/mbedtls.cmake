# mbedTLS 2.28 from Debian's source package, built as the static library
# lwm_mbedtls with lwmail's configuration (include/lwmail/lwm_mbedtls_config.h).
#
# Debian's binary libmbedtls-dev cannot be used: it is built without
# MBEDTLS_PLATFORM_MEMORY and MEMORY_BUFFER_ALLOC_C and calls libc's
# calloc/free, while lwmail runs mbedTLS on static memory only. So every
# build (host, cross, boards) compiles the library itself.
#
#   LWM_MBEDTLS_SOURCE_DIR  an unpacked mbedTLS 2.28 tree; empty: fetched by
#                           scripts/fetch-source.sh into LWM_SOURCES_DIR
#   LWM_SOURCES_DIR         where third-party sources are unpacked
#                           (default: <repo>/build/_sources, shared by all
#                           build directories; never committed)
#   LWM_MBEDTLS_USER_CONFIG a board's header that narrows our configuration
#                           (a normal variable, set before the include;
#                           firmware/ sets it): passed as
#                           MBEDTLS_USER_CONFIG_FILE, which
#                           lwm_mbedtls_config.h includes last. Empty (the
#                           host build): the configuration as it is

set(LWM_SOURCES_DIR "${PROJECT_SOURCE_DIR}/build/_sources" CACHE PATH
    "Where Debian source packages of third-party libraries are unpacked")
set(LWM_MBEDTLS_SOURCE_DIR "" CACHE PATH
    "An unpacked mbedTLS 2.28 source tree (empty: fetch Debian's)")

if(NOT LWM_MBEDTLS_SOURCE_DIR)
    execute_process(
        COMMAND bash "${PROJECT_SOURCE_DIR}/scripts/fetch-source.sh"
                mbedtls "${LWM_SOURCES_DIR}"
        OUTPUT_VARIABLE lwm_mbedtls_dir
        OUTPUT_STRIP_TRAILING_WHITESPACE
        RESULT_VARIABLE lwm_fetch_rc)
    if(NOT lwm_fetch_rc EQUAL 0)
        message(FATAL_ERROR "lwmail: could not get mbedTLS's source "
                "(scripts/fetch-source.sh mbedtls ${LWM_SOURCES_DIR})")
    endif()
    set(LWM_MBEDTLS_SOURCE_DIR "${lwm_mbedtls_dir}" CACHE PATH
        "An unpacked mbedTLS 2.28 source tree (empty: fetch Debian's)" FORCE)
endif()

file(STRINGS "${LWM_MBEDTLS_SOURCE_DIR}/include/mbedtls/version.h"
     lwm_mbedtls_ver REGEX "define MBEDTLS_VERSION_STRING ")
if(NOT lwm_mbedtls_ver MATCHES "\"2\\.28\\.")
    message(FATAL_ERROR "lwmail: mbedTLS 2.28 expected in "
            "${LWM_MBEDTLS_SOURCE_DIR}, found: ${lwm_mbedtls_ver}")
endif()

file(GLOB lwm_mbedtls_sources "${LWM_MBEDTLS_SOURCE_DIR}/library/*.c")
add_library(lwm_mbedtls STATIC ${lwm_mbedtls_sources})
target_include_directories(lwm_mbedtls SYSTEM
    PUBLIC "${LWM_MBEDTLS_SOURCE_DIR}/include")
target_include_directories(lwm_mbedtls PUBLIC "${PROJECT_SOURCE_DIR}/include")
target_compile_definitions(lwm_mbedtls
    PUBLIC "MBEDTLS_CONFIG_FILE=\"lwmail/lwm_mbedtls_config.h\"")
# PUBLIC like the configuration itself: src/tls must see the same
# structures as the library
if(LWM_MBEDTLS_USER_CONFIG)
    target_compile_definitions(lwm_mbedtls
        PUBLIC "MBEDTLS_USER_CONFIG_FILE=\"${LWM_MBEDTLS_USER_CONFIG}\"")
endif()
if(LWM_CONFIG_DIR)
    target_include_directories(lwm_mbedtls PUBLIC "${LWM_CONFIG_DIR}")
    target_compile_definitions(lwm_mbedtls PUBLIC LWM_HAVE_CONFIG_H=1)
endif()
# third-party code: not held to our warning flags (sanitizers still apply)
get_target_property(lwm_mb_opts lwm_mbedtls COMPILE_OPTIONS)
if(lwm_mb_opts)
    list(FILTER lwm_mb_opts EXCLUDE REGEX "^-W")
    set_property(TARGET lwm_mbedtls PROPERTY COMPILE_OPTIONS ${lwm_mb_opts})
endif()
target_compile_options(lwm_mbedtls PRIVATE -w)
# The arena allocator installs itself with mbedtls_platform_set_calloc_free;
# in this one file that call is renamed, so src/tls gets the arena's
# calloc/free and puts its record-buffer router in front of them.
set_source_files_properties(
    "${LWM_MBEDTLS_SOURCE_DIR}/library/memory_buffer_alloc.c"
    PROPERTIES COMPILE_DEFINITIONS
    "mbedtls_platform_set_calloc_free=lwm_tls_arena_installed")
