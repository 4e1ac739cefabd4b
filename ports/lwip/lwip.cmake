# lwIP 2.1.3 from Debian's source package, and the lwmail lwIP port on it.
# For every build that needs lwIP: the host test (tests/lwip) and the
# firmware (firmware/, cross-compiled with the board's lwipopts.h).
#
#   include(${PROJECT_SOURCE_DIR}/ports/lwip/lwip.cmake)
#
#   lwm_lwip_library(<target> OPTS_DIR <dir> [SOURCES <file>...])
#       lwIP's core (src/core, ipv4, ipv6: what lwipopts.h leaves out
#       compiles to nothing) as a static library, configured by the
#       lwipopts.h and arch/cc.h found in OPTS_DIR; SOURCES adds files such
#       as ${LWM_LWIP_SOURCE_DIR}/src/netif/ethernet.c for a board with an
#       Ethernet netif.
#   lwm_lwip_port(<target> LWIP <lwip target> CORE <lwmail core target>)
#       ports/lwip/lwm_lwip.c as a static library over those two.
#
#   LWM_LWIP_SOURCE_DIR  an unpacked lwIP 2.1.3 tree; empty: fetched by
#                        scripts/fetch-source.sh into LWM_SOURCES_DIR
#                        (build/_sources by default; never committed)
#
# lwIP's own sources are third-party code: our warning flags are filtered
# out and -w added, as cmake/mbedtls.cmake does for mbedTLS (sanitizers
# still apply). Its headers are SYSTEM includes, so code that includes
# them (the port, tests) keeps every warning of its own.

set(LWM_LWIP_PORT_DIR "${CMAKE_CURRENT_LIST_DIR}")
get_filename_component(lwm_lwip_repo "${LWM_LWIP_PORT_DIR}/../.." ABSOLUTE)

if(NOT DEFINED LWM_SOURCES_DIR)
    set(LWM_SOURCES_DIR "${lwm_lwip_repo}/build/_sources" CACHE PATH
        "Where Debian source packages of third-party libraries are unpacked")
endif()
set(LWM_LWIP_SOURCE_DIR "" CACHE PATH
    "An unpacked lwIP 2.1.3 source tree (empty: fetch Debian's)")

if(NOT LWM_LWIP_SOURCE_DIR)
    execute_process(
        COMMAND bash "${lwm_lwip_repo}/scripts/fetch-source.sh"
                lwip "${LWM_SOURCES_DIR}"
        OUTPUT_VARIABLE lwm_lwip_dir
        OUTPUT_STRIP_TRAILING_WHITESPACE
        RESULT_VARIABLE lwm_lwip_rc)
    if(NOT lwm_lwip_rc EQUAL 0 OR NOT lwm_lwip_dir)
        message(FATAL_ERROR "lwmail: could not get lwIP's source "
                "(scripts/fetch-source.sh lwip ${LWM_SOURCES_DIR})")
    endif()
    set(LWM_LWIP_SOURCE_DIR "${lwm_lwip_dir}" CACHE PATH
        "An unpacked lwIP 2.1.3 source tree (empty: fetch Debian's)" FORCE)
endif()

file(STRINGS "${LWM_LWIP_SOURCE_DIR}/src/include/lwip/init.h"
     lwm_lwip_ver REGEX "define LWIP_VERSION_(MAJOR|MINOR|REVISION) ")
string(REGEX REPLACE "[^0-9;]" "" lwm_lwip_ver "${lwm_lwip_ver}")
string(REPLACE ";" "." lwm_lwip_ver "${lwm_lwip_ver}")
if(NOT lwm_lwip_ver STREQUAL "2.1.3")
    message(FATAL_ERROR "lwmail: lwIP 2.1.3 expected in "
            "${LWM_LWIP_SOURCE_DIR}, found ${lwm_lwip_ver}")
endif()

function(lwm_lwip_library name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "OPTS_DIR" "SOURCES")
    if(NOT arg_OPTS_DIR)
        message(FATAL_ERROR "lwm_lwip_library(${name}): OPTS_DIR missing")
    endif()
    # Debian's source package adds a unix port under port/; boards bring
    # their own arch/cc.h, so only src/ is used
    file(GLOB srcs
         "${LWM_LWIP_SOURCE_DIR}/src/core/*.c"
         "${LWM_LWIP_SOURCE_DIR}/src/core/ipv4/*.c"
         "${LWM_LWIP_SOURCE_DIR}/src/core/ipv6/*.c")
    add_library(${name} STATIC ${srcs} ${arg_SOURCES})
    target_include_directories(${name} SYSTEM
        PUBLIC "${LWM_LWIP_SOURCE_DIR}/src/include")
    # the options (lwipopts.h, arch/cc.h) are ours: they keep our warnings
    target_include_directories(${name} PUBLIC "${arg_OPTS_DIR}")
    get_target_property(opts ${name} COMPILE_OPTIONS)
    if(opts)
        list(FILTER opts EXCLUDE REGEX "^-W")
        set_property(TARGET ${name} PROPERTY COMPILE_OPTIONS ${opts})
    endif()
    target_compile_options(${name} PRIVATE -w)
endfunction()

function(lwm_lwip_port name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "LWIP;CORE" "")
    add_library(${name} STATIC "${LWM_LWIP_PORT_DIR}/lwm_lwip.c")
    target_include_directories(${name} PUBLIC "${LWM_LWIP_PORT_DIR}")
    target_link_libraries(${name} PUBLIC ${arg_LWIP} ${arg_CORE})
endfunction()
