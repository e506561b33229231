# SPDX-License-Identifier: Apache-2.0
# System dependencies as imported targets (Debian bookworm packages; tools/install-deps.sh installs them).
find_package(PkgConfig REQUIRED)
pkg_check_modules(MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto)
pkg_check_modules(COAP REQUIRED IMPORTED_TARGET libcoap-3-openssl)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(CBOR REQUIRED IMPORTED_TARGET libcbor)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)

# mbedtls ships no pkg-config file on bookworm: import it by hand.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/sha256.h REQUIRED)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto REQUIRED)
add_library(relais::mbedcrypto UNKNOWN IMPORTED)
set_target_properties(relais::mbedcrypto PROPERTIES
  IMPORTED_LOCATION "${MBEDCRYPTO_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${MBEDTLS_INCLUDE_DIR}")
# X.509 writing (relaisctl uplink csr)
find_library(MBEDX509_LIBRARY mbedx509 REQUIRED)
add_library(relais::mbedx509 UNKNOWN IMPORTED)
set_target_properties(relais::mbedx509 PROPERTIES
  IMPORTED_LOCATION "${MBEDX509_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${MBEDTLS_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES relais::mbedcrypto)

if(RELAIS_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
