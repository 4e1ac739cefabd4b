# Toolchain: big-endian MIPS32 Linux (Debian's mips-linux-gnu cross gcc),
# statically linked so the binaries run under qemu-mips-static, which CTest
# and custom targets use as CMAKE_CROSSCOMPILING_EMULATOR.
#
#   cmake -S . -B build/mips -DCMAKE_TOOLCHAIN_FILE=cmake/mips-linux-gnu.cmake
#
# Sanitizers are off when cross compiling (see LWM_SANITIZE).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR mips)

set(CMAKE_C_COMPILER mips-linux-gnu-gcc)
set(CMAKE_C_FLAGS_INIT "-EB")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-EB -static")

find_program(LWM_QEMU_MIPS qemu-mips-static)
if(LWM_QEMU_MIPS)
    set(CMAKE_CROSSCOMPILING_EMULATOR "${LWM_QEMU_MIPS}")
else()
    # Leave a name that fails loudly at test time rather than silently
    # running nothing.
    set(CMAKE_CROSSCOMPILING_EMULATOR qemu-mips-static)
endif()

set(CMAKE_FIND_ROOT_PATH /usr/mips-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
