# Installs the build into a scratch prefix, builds the consumer project
# against it with find_package(Chimera), and runs it.
set(prefix ${BUILD_DIR}/install-test)
set(consumer_build ${BUILD_DIR}/install-consumer)
file(REMOVE_RECURSE ${prefix} ${consumer_build})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix}
  RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -G Ninja -S ${CONSUMER_DIR} -B ${consumer_build}
  -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix}
  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir
  RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${consumer_build} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed (${rc})")
endif()
execute_process(COMMAND ${consumer_build}/consumer RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the consumer failed (${rc})")
endif()
