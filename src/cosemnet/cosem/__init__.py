"""COSEM object model: the interface classes of IEC 62056-6-2 (the Blue Book).

Layering: above the codec (:mod:`cosemnet.codec`) and the security primitives
(:mod:`cosemnet.security`), below the application layer, which calls
:meth:`InterfaceClass.get` / ``set`` / ``action`` with an :class:`AccessContext` and turns a
:class:`CosemAccessError` into the Data-Access-Result / Action-Result of the response.

* :mod:`.base` -- :class:`InterfaceClass`, :class:`AttributeDef`, :class:`MethodDef`, short names
* :mod:`.context` -- :class:`AccessContext`, :class:`SideEffects`
* :mod:`.access` -- access rights (:class:`AttributeAccess`, :class:`MethodAccess`,
  :class:`ObjectAccessRights`)
* :mod:`.results` -- :class:`DataAccessResult`, :class:`ActionResult`, :class:`CosemAccessError`
* one module per interface class, and :mod:`.logical_device` (:class:`LogicalDevice`, :class:`DeviceEffects`)
"""

from cosemnet.cosem.access import (
    AttributeAccess,
    AttributeAccessItem,
    MethodAccess,
    MethodAccessItem,
    ObjectAccessRights,
)
from cosemnet.cosem.association import CURRENT_ASSOCIATION_LN, AssociationStatus, ObjectListEntry
from cosemnet.cosem.association_ln import AssociationLN, XDlmsContextInfo
from cosemnet.cosem.association_sn import AssociationSN
from cosemnet.cosem.base import AttributeDef, InterfaceClass, MethodDef, SelectiveAccess
from cosemnet.cosem.clock import Clock, ClockBase
from cosemnet.cosem.common import ActionItem, CaptureObjectDefinition, ValueDefinition
from cosemnet.cosem.communication_port_protection import (
    CommunicationPortProtection,
    ProtectionMode,
    ProtectionStatus,
)
from cosemnet.cosem.context import AccessContext, AccessRightsSource, SideEffects
from cosemnet.cosem.data import Data
from cosemnet.cosem.demand_register import DemandRegister
from cosemnet.cosem.disconnect_control import ControlMode, ControlState, DisconnectControl
from cosemnet.cosem.extended_register import ExtendedRegister
from cosemnet.cosem.image_transfer import ImageTransfer, ImageTransferStatus
from cosemnet.cosem.ipv6_setup import Ipv6Setup
from cosemnet.cosem.iso14908_diagnostic import Iso14908Diagnostic, Iso14908DiagnosticValues
from cosemnet.cosem.iso14908_identification import Iso14908Identification, Iso14908IdentificationValues
from cosemnet.cosem.iso14908_protocol_setup import Iso14908ProtocolSetup
from cosemnet.cosem.iso14908_protocol_status import Iso14908ProtocolStatus, Iso14908ProtocolStatusValues
from cosemnet.cosem.limiter import EmergencyProfile, Limiter, LimiterActions
from cosemnet.cosem.logical_device import LOGICAL_DEVICE_NAME_LN, DeviceEffects, LogicalDevice
from cosemnet.cosem.profile_generic import ProfileGeneric, SortMethod
from cosemnet.cosem.push_setup import PushSetup, SendDestinationAndMethod, TransportService
from cosemnet.cosem.register import Register, Unit
from cosemnet.cosem.register_monitor import ActionSet, RegisterMonitor
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult
from cosemnet.cosem.sap_assignment import SapAssignment
from cosemnet.cosem.script_table import ActionSpecification, Script, ScriptTable, ServiceId
from cosemnet.cosem.security_setup import KeyPairType, SecurityPolicy, SecuritySetup
from cosemnet.cosem.single_action_schedule import ScheduleType, SingleActionSchedule
from cosemnet.cosem.tcp_udp_setup import TcpUdpSetup
from cosemnet.cosem.utility_tables import UtilityTables

INTERFACE_CLASSES: tuple[type[InterfaceClass], ...] = (
    Data,
    Register,
    ExtendedRegister,
    DemandRegister,
    ProfileGeneric,
    Clock,
    ScriptTable,
    AssociationSN,
    AssociationLN,
    SapAssignment,
    ImageTransfer,
    RegisterMonitor,
    SingleActionSchedule,
    UtilityTables,
    PushSetup,
    TcpUdpSetup,
    Ipv6Setup,
    SecuritySetup,
    DisconnectControl,
    Limiter,
    CommunicationPortProtection,
    Iso14908Identification,
    Iso14908ProtocolSetup,
    Iso14908ProtocolStatus,
    Iso14908Diagnostic,
)
"""Every interface class the object model implements."""

CLASSES_BY_ID: dict[int, type[InterfaceClass]] = {cls.CLASS_ID: cls for cls in INTERFACE_CLASSES}
"""class_id -> implementing class."""

__all__ = [
    "CLASSES_BY_ID",
    "CURRENT_ASSOCIATION_LN",
    "INTERFACE_CLASSES",
    "LOGICAL_DEVICE_NAME_LN",
    "AccessContext",
    "AccessRightsSource",
    "ActionItem",
    "ActionResult",
    "ActionSet",
    "ActionSpecification",
    "AssociationLN",
    "AssociationSN",
    "AssociationStatus",
    "AttributeAccess",
    "AttributeAccessItem",
    "AttributeDef",
    "CaptureObjectDefinition",
    "Clock",
    "ClockBase",
    "CommunicationPortProtection",
    "ControlMode",
    "ControlState",
    "CosemAccessError",
    "Data",
    "DataAccessResult",
    "DemandRegister",
    "DeviceEffects",
    "DisconnectControl",
    "EmergencyProfile",
    "ExtendedRegister",
    "ImageTransfer",
    "ImageTransferStatus",
    "InterfaceClass",
    "Ipv6Setup",
    "Iso14908Diagnostic",
    "Iso14908DiagnosticValues",
    "Iso14908Identification",
    "Iso14908IdentificationValues",
    "Iso14908ProtocolSetup",
    "Iso14908ProtocolStatus",
    "Iso14908ProtocolStatusValues",
    "KeyPairType",
    "Limiter",
    "LimiterActions",
    "LogicalDevice",
    "MethodAccess",
    "MethodAccessItem",
    "MethodDef",
    "ObjectAccessRights",
    "ObjectListEntry",
    "ProfileGeneric",
    "ProtectionMode",
    "ProtectionStatus",
    "PushSetup",
    "Register",
    "RegisterMonitor",
    "SapAssignment",
    "ScheduleType",
    "Script",
    "ScriptTable",
    "SecurityPolicy",
    "SecuritySetup",
    "SelectiveAccess",
    "SendDestinationAndMethod",
    "ServiceId",
    "SideEffects",
    "SingleActionSchedule",
    "SortMethod",
    "TcpUdpSetup",
    "TransportService",
    "Unit",
    "UtilityTables",
    "ValueDefinition",
    "XDlmsContextInfo",
]
