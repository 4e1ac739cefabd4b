# Toolchain for firmware images: bare-metal Cortex-M3 (thumb), newlib-nano,
# -Os, our own startup code (boards/<board>/startup.c).
#
#   cmake -S firmware -B build/fw -G Ninja
#         (this file is the default; -DCMAKE_TOOLCHAIN_FILE=... overrides)
#
# Unlike cmake/arm-none-eabi.cmake (which builds only the core library),
# this one links images, so it leaves out --specs=nosys.specs on purpose:
# libnosys would quietly supply _sbrk and the other syscall stubs, and a
# malloc pulled in by some libc function would then link and "work". With
# no stubs, any libc path that needs the heap or a file fails to link.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar CACHE FILEPATH "Archiver")
set(CMAKE_RANLIB arm-none-eabi-ranlib CACHE FILEPATH "Ranlib")
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size")
set(CMAKE_NM arm-none-eabi-nm CACHE FILEPATH "nm")

# compiler checks build a library: there is no startup code to link yet
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(CMAKE_C_FLAGS_INIT
    "-mcpu=cortex-m3 -mthumb --specs=nano.specs -ffunction-sections -fdata-sections")
# (the C flags, --specs=nano.specs included, are on the link line too:
# giving the specs twice is an error)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-nostartfiles -Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
