/* CI-only stand-in for the Apple SDK's TargetConditionals.h (see .ci/platforms.sh):
 * ring's C reads TARGET_OS_OSX and TARGET_OS_IPHONE from it. A real build with Xcode
 * uses the SDK's header. clang predefines the deployment-target macro of the OS it
 * compiles for, which tells macOS from iOS. */
#ifndef TARGETCONDITIONALS_STUB_H
#define TARGETCONDITIONALS_STUB_H
#define TARGET_OS_MAC 1
#if defined(__ENVIRONMENT_IPHONE_OS_VERSION_MIN_REQUIRED__)
#define TARGET_OS_OSX 0
#define TARGET_OS_IPHONE 1
#define TARGET_OS_IOS 1
#else
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#endif
#endif
