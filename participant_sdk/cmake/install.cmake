# `cmake --install` of the SDK: headers (the generated tcc.v1 ones included),
# static libraries and the CMake package TccParticipant, so that a service
# builds with
#   find_package(TccParticipant CONFIG REQUIRED)          # or COMPONENTS postgres
#   target_link_libraries(my_service PRIVATE tcc::participant)  # tcc::participant_pg
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TCC_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/TccParticipant)

set_target_properties(tcc_protos PROPERTIES EXPORT_NAME protos)
set_target_properties(tcc_common PROPERTIES EXPORT_NAME common)
set_target_properties(tcc_participant PROPERTIES EXPORT_NAME participant)
install(TARGETS tcc_protos tcc_common tcc_participant
  EXPORT TccParticipantTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT TccParticipantTargets
  NAMESPACE tcc::
  DESTINATION ${TCC_PACKAGE_DIR})

set(tcc_postgres_headers_excluded "")
if(TARGET tcc_participant_pg)
  set_target_properties(tcc_participant_pg PROPERTIES
    EXPORT_NAME participant_pg)
  install(TARGETS tcc_participant_pg
    EXPORT TccParticipantPostgresTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT TccParticipantPostgresTargets
    NAMESPACE tcc::
    DESTINATION ${TCC_PACKAGE_DIR})
else()
  set(tcc_postgres_headers_excluded PATTERN "postgres_*" EXCLUDE)
endif()

install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/tcc/participant
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tcc
  FILES_MATCHING PATTERN "*.h" ${tcc_postgres_headers_excluded})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/common/include/tcc/common
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tcc
  FILES_MATCHING PATTERN "*.h")
# The generated tcc.v1 headers, and the protos for other languages.
install(DIRECTORY ${PROJECT_BINARY_DIR}/protos/tcc/v1
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tcc
  FILES_MATCHING PATTERN "*.pb.h")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/protos/tcc/v1
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tcc
  FILES_MATCHING PATTERN "*.proto")

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/TccParticipantConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/TccParticipantConfig.cmake
  INSTALL_DESTINATION ${TCC_PACKAGE_DIR})
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/TccParticipantConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/TccParticipantConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/TccParticipantConfigVersion.cmake
  DESTINATION ${TCC_PACKAGE_DIR})
