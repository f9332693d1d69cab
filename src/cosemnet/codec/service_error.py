"""xDLMS ConfirmedServiceError (IEC 62056-5-3), tag 0x0E.

A-XDR layout: ``0E``, the ConfirmedServiceError CHOICE tag (which service failed, :class:`ConfirmedService`),
the ServiceError CHOICE tag (which kind of error), the ENUMERATED value. A server refusing an
association puts one in the AARE user-information, e.g. ``0E 01 06 01`` = initiateError / initiate /
dlms-version-too-low; :func:`initiate_error` builds those.

The ServiceError CHOICE is the flat enum :class:`ServiceError`
(``ServiceError.INITIATE_PDU_SIZE_TOO_SHORT`` is ``initiate [6]`` value 3); the Blue Book enumeration
of each alternative is its own IntEnum (:class:`Initiate`, :class:`Access`, ...), convertible with
:meth:`ServiceError.of` / :attr:`ServiceError.detail`.

Values not listed in an enum are a :class:`~cosemnet.errors.DecodeError`. The ``change-scope`` and
``other`` alternatives are only known to define ``other (0)`` [reconstructed]; everything else follows
the published Blue Book / Green Book names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import ClassVar, Final, Self

from cosemnet.codec.types import Buffer
from cosemnet.errors import DecodeError, EncodeError


class ConfirmedService(IntEnum):
    """The ConfirmedServiceError CHOICE: the service the error is about."""

    INITIATE_ERROR = 1
    GET_STATUS = 2
    GET_NAME_LIST = 3
    GET_VARIABLE_ATTRIBUTE = 4
    READ = 5
    WRITE = 6
    GET_DATA_SET_ATTRIBUTE = 7
    GET_TI_ATTRIBUTE = 8
    CHANGE_SCOPE = 9
    START = 10
    STOP = 11
    RESUME = 12
    MAKE_USABLE = 13
    INITIATE_LOAD = 14
    LOAD_SEGMENT = 15
    TERMINATE_LOAD = 16
    INITIATE_UP_LOAD = 17
    UP_LOAD_SEGMENT = 18
    TERMINATE_UP_LOAD = 19


class ApplicationReference(IntEnum):
    """ServiceError application-reference [0]."""

    OTHER = 0
    TIME_ELAPSED = 1
    APPLICATION_UNREACHABLE = 2
    APPLICATION_REFERENCE_INVALID = 3
    APPLICATION_CONTEXT_UNSUPPORTED = 4
    PROVIDER_COMMUNICATION_ERROR = 5
    DECIPHERING_ERROR = 6


class HardwareResource(IntEnum):
    """ServiceError hardware-resource [1]."""

    OTHER = 0
    MEMORY_UNAVAILABLE = 1
    PROCESSOR_RESOURCE_UNAVAILABLE = 2
    MASS_STORAGE_UNAVAILABLE = 3
    OTHER_RESOURCE_UNAVAILABLE = 4


class VdeStateError(IntEnum):
    """ServiceError vde-state-error [2]."""

    OTHER = 0
    NO_DLMS_CONTEXT = 1
    LOADING_DATA_SET = 2
    STATUS_NOCHANGE = 3
    STATUS_INOPERABLE = 4


class Service(IntEnum):
    """ServiceError service [3]."""

    OTHER = 0
    PDU_SIZE = 1
    SERVICE_UNSUPPORTED = 2


class Definition(IntEnum):
    """ServiceError definition [4]."""

    OTHER = 0
    OBJECT_UNDEFINED = 1
    OBJECT_CLASS_INCONSISTENT = 2
    OBJECT_ATTRIBUTE_INCONSISTENT = 3


class Access(IntEnum):
    """ServiceError access [5]."""

    OTHER = 0
    SCOPE_OF_ACCESS_VIOLATED = 1
    OBJECT_ACCESS_VIOLATED = 2
    HARDWARE_FAULT = 3
    OBJECT_UNAVAILABLE = 4


class Initiate(IntEnum):
    """ServiceError initiate [6]."""

    OTHER = 0
    DLMS_VERSION_TOO_LOW = 1
    INCOMPATIBLE_CONFORMANCE = 2
    PDU_SIZE_TOO_SHORT = 3
    REFUSED_BY_THE_VDE_HANDLER = 4


class LoadDataSet(IntEnum):
    """ServiceError load-data-set [7]."""

    OTHER = 0
    PRIMITIVE_OUT_OF_SEQUENCE = 1
    NOT_LOADABLE = 2
    DATASET_SIZE_TOO_LARGE = 3
    NOT_AWAITED_SEGMENT = 4
    INTERPRETATION_FAILURE = 5
    STORAGE_FAILURE = 6
    DATA_SET_NOT_READY = 7


class ChangeScope(IntEnum):
    """ServiceError change-scope [8] (only ``other`` is known)."""

    OTHER = 0


class Task(IntEnum):
    """ServiceError task [9]."""

    OTHER = 0
    NO_REMOTE_CONTROL = 1
    TI_STOPPED = 2
    TI_RUNNING = 3
    TI_UNUSABLE = 4


class Other(IntEnum):
    """ServiceError other [10] (only ``other`` is known)."""

    OTHER = 0


ServiceErrorDetail = (
    ApplicationReference
    | HardwareResource
    | VdeStateError
    | Service
    | Definition
    | Access
    | Initiate
    | LoadDataSet
    | ChangeScope
    | Task
    | Other
)
"""The per-alternative enumerations (the Blue Book ENUMERATED of each ServiceError alternative)."""

SERVICE_ERROR_TYPES: Final[tuple[type[IntEnum], ...]] = (
    ApplicationReference,
    HardwareResource,
    VdeStateError,
    Service,
    Definition,
    Access,
    Initiate,
    LoadDataSet,
    ChangeScope,
    Task,
    Other,
)
"""The ServiceError alternatives' enumerations, indexed by their CHOICE tag (0..10)."""

_SERVICE_ERROR_TAG: Final[dict[type[IntEnum], int]] = {cls: i for i, cls in enumerate(SERVICE_ERROR_TYPES)}


class ServiceErrorChoice(IntEnum):
    """The alternatives of the ServiceError CHOICE, by tag."""

    APPLICATION_REFERENCE = 0
    HARDWARE_RESOURCE = 1
    VDE_STATE_ERROR = 2
    SERVICE = 3
    DEFINITION = 4
    ACCESS = 5
    INITIATE = 6
    LOAD_DATA_SET = 7
    CHANGE_SCOPE = 8
    TASK = 9
    OTHER = 10


class ServiceError(IntEnum):
    """The ServiceError CHOICE as one enumeration: ``<alternative>_<value>``, value = tag << 8 | code.

    Design choice: one flat enum rather than a union of the per-alternative enums. Members of
    different IntEnums with the same number compare equal (``Initiate.OTHER == Access.OTHER``) and share
    names (``OTHER``), so a union could neither tell two different APDUs apart nor survive the JSON
    form. :meth:`of` and :attr:`detail` convert from and to the per-alternative enums.
    """

    # application-reference [0]
    APPLICATION_REFERENCE_OTHER = 0x0000
    APPLICATION_REFERENCE_TIME_ELAPSED = 0x0001
    APPLICATION_REFERENCE_APPLICATION_UNREACHABLE = 0x0002
    APPLICATION_REFERENCE_APPLICATION_REFERENCE_INVALID = 0x0003
    APPLICATION_REFERENCE_APPLICATION_CONTEXT_UNSUPPORTED = 0x0004
    APPLICATION_REFERENCE_PROVIDER_COMMUNICATION_ERROR = 0x0005
    APPLICATION_REFERENCE_DECIPHERING_ERROR = 0x0006
    # hardware-resource [1]
    HARDWARE_RESOURCE_OTHER = 0x0100
    HARDWARE_RESOURCE_MEMORY_UNAVAILABLE = 0x0101
    HARDWARE_RESOURCE_PROCESSOR_RESOURCE_UNAVAILABLE = 0x0102
    HARDWARE_RESOURCE_MASS_STORAGE_UNAVAILABLE = 0x0103
    HARDWARE_RESOURCE_OTHER_RESOURCE_UNAVAILABLE = 0x0104
    # vde-state-error [2]
    VDE_STATE_ERROR_OTHER = 0x0200
    VDE_STATE_ERROR_NO_DLMS_CONTEXT = 0x0201
    VDE_STATE_ERROR_LOADING_DATA_SET = 0x0202
    VDE_STATE_ERROR_STATUS_NOCHANGE = 0x0203
    VDE_STATE_ERROR_STATUS_INOPERABLE = 0x0204
    # service [3]
    SERVICE_OTHER = 0x0300
    SERVICE_PDU_SIZE = 0x0301
    SERVICE_SERVICE_UNSUPPORTED = 0x0302
    # definition [4]
    DEFINITION_OTHER = 0x0400
    DEFINITION_OBJECT_UNDEFINED = 0x0401
    DEFINITION_OBJECT_CLASS_INCONSISTENT = 0x0402
    DEFINITION_OBJECT_ATTRIBUTE_INCONSISTENT = 0x0403
    # access [5]
    ACCESS_OTHER = 0x0500
    ACCESS_SCOPE_OF_ACCESS_VIOLATED = 0x0501
    ACCESS_OBJECT_ACCESS_VIOLATED = 0x0502
    ACCESS_HARDWARE_FAULT = 0x0503
    ACCESS_OBJECT_UNAVAILABLE = 0x0504
    # initiate [6]
    INITIATE_OTHER = 0x0600
    INITIATE_DLMS_VERSION_TOO_LOW = 0x0601
    INITIATE_INCOMPATIBLE_CONFORMANCE = 0x0602
    INITIATE_PDU_SIZE_TOO_SHORT = 0x0603
    INITIATE_REFUSED_BY_THE_VDE_HANDLER = 0x0604
    # load-data-set [7]
    LOAD_DATA_SET_OTHER = 0x0700
    LOAD_DATA_SET_PRIMITIVE_OUT_OF_SEQUENCE = 0x0701
    LOAD_DATA_SET_NOT_LOADABLE = 0x0702
    LOAD_DATA_SET_DATASET_SIZE_TOO_LARGE = 0x0703
    LOAD_DATA_SET_NOT_AWAITED_SEGMENT = 0x0704
    LOAD_DATA_SET_INTERPRETATION_FAILURE = 0x0705
    LOAD_DATA_SET_STORAGE_FAILURE = 0x0706
    LOAD_DATA_SET_DATA_SET_NOT_READY = 0x0707
    # change-scope [8]
    CHANGE_SCOPE_OTHER = 0x0800
    # task [9]
    TASK_OTHER = 0x0900
    TASK_NO_REMOTE_CONTROL = 0x0901
    TASK_TI_STOPPED = 0x0902
    TASK_TI_RUNNING = 0x0903
    TASK_TI_UNUSABLE = 0x0904
    # other [10]
    OTHER_OTHER = 0x0A00

    @classmethod
    def of(cls, detail: ServiceErrorDetail) -> ServiceError:
        """The member for a per-alternative value, e.g. ``ServiceError.of(Initiate.PDU_SIZE_TOO_SHORT)``."""
        tag = _SERVICE_ERROR_TAG.get(type(detail))
        if tag is None:
            raise EncodeError(f"{detail!r} is not a ServiceError alternative value")
        return cls(tag << 8 | detail)

    @property
    def alternative(self) -> ServiceErrorChoice:
        """Which ServiceError alternative this is."""
        return ServiceErrorChoice(self >> 8)

    @property
    def code(self) -> int:
        """The ENUMERATED value sent on the wire."""
        return self & 0xFF

    @property
    def detail(self) -> ServiceErrorDetail:
        """The value as a member of its alternative's enumeration (``Initiate.PDU_SIZE_TOO_SHORT``)."""
        return SERVICE_ERROR_TYPES[self >> 8](self & 0xFF)  # type: ignore[return-value]


@dataclass(slots=True)
class ConfirmedServiceError:
    """xDLMS ConfirmedServiceError: ``service`` failed with ``error``."""

    TAG: ClassVar[int] = 0x0E

    service: ConfirmedService
    error: ServiceError

    def encode(self) -> bytes:
        for value, enum_cls in ((self.service, ConfirmedService), (self.error, ServiceError)):
            if isinstance(value, Enum) and not isinstance(value, enum_cls):  # e.g. Initiate.OTHER
                raise EncodeError(f"{value!r} is not a {enum_cls.__name__} (use ServiceError.of(...))")
        try:
            service = ConfirmedService(self.service)
        except ValueError:
            raise EncodeError(f"{self.service!r} is not a ConfirmedServiceError alternative") from None
        try:
            error = ServiceError(self.error)
        except ValueError:
            raise EncodeError(f"{self.error!r} is not a ServiceError (use ServiceError.of(...))") from None
        return bytes((self.TAG, service, error >> 8, error & 0xFF))

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        value, end = cls.decode_from(data, 0)
        if end != len(data):
            raise DecodeError(
                f"{len(data) - end} trailing octet(s) after the ConfirmedServiceError", end, "end of input"
            )
        return value

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        if offset < len(data) and data[offset] != cls.TAG:
            raise DecodeError(
                f"not a ConfirmedServiceError (tag {data[offset]:#04x})", offset, f"tag {cls.TAG:#04x}"
            )
        if offset + 4 > len(data):
            raise DecodeError("input ends inside a ConfirmedServiceError", offset, "4 octets")
        choice = data[offset + 1]
        if not 1 <= choice <= 19:
            raise DecodeError(f"unknown ConfirmedServiceError alternative {choice}", offset + 1, "1..19")
        kind = data[offset + 2]
        if kind > 10:
            raise DecodeError(f"unknown ServiceError alternative {kind}", offset + 2, "0..10")
        code = data[offset + 3]
        try:
            error = ServiceError(kind << 8 | code)
        except ValueError:
            enum_cls = SERVICE_ERROR_TYPES[kind]
            raise DecodeError(
                f"unknown {enum_cls.__name__} value {code}", offset + 3, f"0..{max(enum_cls)}"
            ) from None
        return cls(ConfirmedService(choice), error), offset + 4


def initiate_error(reason: Initiate = Initiate.OTHER) -> ConfirmedServiceError:
    """The ConfirmedServiceError a server returns when it refuses an InitiateRequest.

    E.g. ``initiate_error(Initiate.DLMS_VERSION_TOO_LOW).encode() == bytes.fromhex("0E010601")``.
    Use :class:`Initiate` for version, conformance and PDU size problems; for a deciphering failure
    build ``ConfirmedServiceError(ConfirmedService.INITIATE_ERROR,
    ServiceError.APPLICATION_REFERENCE_DECIPHERING_ERROR)``.
    """
    return ConfirmedServiceError(ConfirmedService.INITIATE_ERROR, ServiceError.of(Initiate(reason)))
